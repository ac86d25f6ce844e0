"""Helpers for readers of console output: terminal codes stripped, progress-bar frames split."""

from __future__ import annotations

import re
from pathlib import Path

# A number as trainers print it in their console lines: signed, decimal or exponent, or nan / inf.
NUMBER = r"[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|nan|inf)"
# CSI sequences (colours, cursor moves) and OSC sequences: mlx-lm colours its table even with NO_COLOR=1.
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def console_lines(path: Path) -> list[str]:
    """The lines of a console log, with `\\r`-separated progress-bar frames as lines of their own."""
    if not path.is_file():
        return []
    text = strip_ansi(path.read_text(encoding="utf-8", errors="replace"))
    return [line for line in re.split(r"\r\n|\r|\n", text) if line.strip()]


def newest(paths: list[Path]) -> Path | None:
    """The most recently written of ``paths`` (a trainer run twice in one work dir left both)."""
    existing = [path for path in paths if path.is_file()]
    return max(existing, key=lambda path: (path.stat().st_mtime, str(path))) if existing else None
