"""Guards that keep a matrix from running code: safe YAML only, no shells."""

from __future__ import annotations

import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "qlora_check"


def sources() -> list[tuple[Path, str]]:
    return [(path, path.read_text(encoding="utf-8")) for path in PACKAGE.rglob("*.py")]


def test_no_shell_true_and_no_unsafe_yaml_anywhere_in_the_package() -> None:
    offenders = [
        str(path.relative_to(PACKAGE))
        for path, text in sources()
        if re.search(r"shell\s*=\s*True", text)
        or re.search(r"yaml\.(load|unsafe_load|full_load)\(", text)
        or re.search(r"(?<![\w.])(eval|exec)\(", text)  # builtins; mx.eval is MLX, not Python
    ]
    assert offenders == []
