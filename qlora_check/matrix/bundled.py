"""Matrices shipped inside the package, so an installed qlora-check can run without a clone.

The repository's `matrices/` folder is the only source: `qlora_check/data/matrices` is a symbolic link to
it, which setuptools follows when it builds a wheel (the wheel holds real copies) and which a checkout or an
editable install reads through. No copy to keep in step, no build hook.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from qlora_check.errors import MatrixError
from qlora_check.names import unknown_name_message

DEFAULT_MATRIX = "smoke"


def bundled_dir() -> Path:
    """The folder of the bundled matrices (a real folder in an install, the link in a checkout)."""
    return Path(str(resources.files("qlora_check") / "data" / "matrices"))


def bundled_names() -> list[str]:
    """Names of the bundled matrices (file stems), sorted."""
    folder = bundled_dir()
    return sorted(path.stem for path in folder.glob("*.yaml")) if folder.is_dir() else []


def bundled_path(name: str) -> Path:
    """The bundled matrix called ``name``; MatrixError naming the bundled ones otherwise."""
    names = bundled_names()
    if name not in names:
        raise MatrixError(
            unknown_name_message("bundled matrix", name, names),
            tip="pass the path of a matrix file, or run `qlora-check matrices` to list the bundled ones",
        )
    return bundled_dir() / f"{name}.yaml"


def resolve_matrix(argument: str | None) -> Path:
    """A matrix argument as a file: none -> the smoke matrix; an existing file; else a bundled name."""
    if argument is None:
        return bundled_path(DEFAULT_MATRIX)
    path = Path(argument)
    if path.is_file() or path.suffix in {".yaml", ".yml"} or len(path.parts) > 1:
        return path  # a path: the loader says "no such file" if it is missing
    return bundled_path(argument)
