"""Bundled matrices: the package's copies are the repository's `matrices/`, found by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from qlora_check.errors import MatrixError
from qlora_check.matrix.bundled import bundled_dir, bundled_names, bundled_path, resolve_matrix
from tests.conftest import MATRICES


def test_the_bundled_matrices_are_the_repository_sources_byte_for_byte() -> None:
    sources = sorted(MATRICES.glob("*.yaml"))
    assert sorted(path.stem for path in sources) == bundled_names()
    for source in sources:
        assert (bundled_dir() / source.name).read_bytes() == source.read_bytes()


def test_no_argument_means_the_smoke_matrix_and_a_bare_name_a_bundled_one() -> None:
    assert {"smoke", "core", "full", "cpu"} <= set(bundled_names())
    assert resolve_matrix(None) == bundled_path("smoke")
    assert resolve_matrix("full").read_bytes() == (MATRICES / "full.yaml").read_bytes()


def test_a_path_stays_a_path_even_when_missing(tmp_path: Path) -> None:
    assert resolve_matrix("mine.yaml") == Path("mine.yaml")
    assert resolve_matrix(str(tmp_path / "full")) == tmp_path / "full"


def test_an_existing_file_wins_over_a_bundled_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "full").write_text("version: 1\nname: mine\n", encoding="utf-8")
    assert resolve_matrix("full") == Path("full")


def test_an_unknown_name_lists_the_bundled_ones_and_the_closest() -> None:
    with pytest.raises(MatrixError, match=r"unknown bundled matrix 'ful'.*Did you mean 'full'") as caught:
        resolve_matrix("ful")
    assert "qlora-check matrices" in (caught.value.tip or "")
