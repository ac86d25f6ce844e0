"""Shared fixtures: each test gets its own run root; the real CLI, the real worker, real files."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from qlora_check.doctor.host_view import detect_host_capabilities
from qlora_check.events import Observer, ignore
from qlora_check.execution.run import RunOptions, RunOutcome, run_matrix
from qlora_check.reports.finish import finish_run

REPO = Path(__file__).resolve().parent.parent
MATRICES = REPO / "matrices"
# What `pip install .` from a clean clone would not see: caches anywhere; VCS data and run outputs at the top
# only (a pattern like "reports" applied at every level would also drop the package `qlora_check/reports`).
_CACHES = shutil.ignore_patterns("__pycache__", ".*_cache", ".hypothesis", "*.egg-info")
_TOP_LEVEL_OUTPUTS = {".git", "reports", "build", "dist", ".venv", "benchmarks", "test-artifacts", ".whl"}


def copy_sources(destination: Path, *, symlinks: bool = True) -> Path:
    """A copy of this checkout's sources at ``destination`` (for installing it as a user would)."""

    def ignore(directory: str, names: list[str]) -> set[str]:
        ignored = set(_CACHES(directory, names))
        if Path(directory).resolve() == REPO:
            ignored |= _TOP_LEVEL_OUTPUTS & set(names)
        return ignored

    shutil.copytree(REPO, destination, symlinks=symlinks, ignore=ignore)
    return destination


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


HEAVY_PACKAGES = ("torch", "transformers", "peft", "bitsandbytes", "hqq", "optimum", "mlx", "mlx_lm")


def heavy_modules_imported_by(statements: str, ignore: frozenset[str] = frozenset()) -> list[str]:
    """Run ``statements`` in a fresh interpreter (cwd: the repo) and list the modules of the libraries
    under test it imported (``ignore`` names exact module names that do not count)."""
    probe = (
        "import sys\n"
        + statements
        + f"\nheavy = {HEAVY_PACKAGES!r}\n"
        + "print('HEAVY=' + ','.join(sorted(m for m in sys.modules if m.split('.')[0] in heavy)))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=pythonpath_env(),
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    line = next(line for line in completed.stdout.splitlines() if line.startswith("HEAVY="))
    return [name for name in line.removeprefix("HEAVY=").split(",") if name and name not in ignore]


def run_and_report(options: RunOptions, observer: Observer = ignore) -> RunOutcome:
    """A run as `qlora-check run` does it: this host's capabilities, the run, then its reports."""
    outcome = run_matrix(options, observer, host=detect_host_capabilities())
    finish_run(outcome.run_dir, outcome.baseline, outcome.interrupted, observer)
    return outcome
