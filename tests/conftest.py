"""Shared fixtures: each test gets its own run root; the real CLI, the real worker, real files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
MATRICES = REPO / "matrices"


@pytest.fixture(autouse=True)
def _single_threaded_cells(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests run in parallel (xdist): keep every cell single-threaded and serial within a test."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


@pytest.fixture
def reports_root(tmp_path: Path) -> Path:
    root = tmp_path / "reports"
    root.mkdir()
    return root


def write_matrix(directory: Path, text: str, name: str = "matrix.yaml") -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def pythonpath_env() -> dict[str, str]:
    """The environment for a subprocess that must import this checkout of qlora_check."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
    return env


@pytest.fixture(autouse=True)
def _isolated_doctor_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """plan/run read cached doctor verdicts: never let a developer's ~/.cache/qlora-check decide a test."""
    monkeypatch.setenv("QLORA_CHECK_CACHE_DIR", str(tmp_path_factory.mktemp("doctor-cache")))
