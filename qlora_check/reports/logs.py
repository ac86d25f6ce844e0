"""A cell's log file as a report sees it: where it is now, a link relative to the run, and its tail.

Results record the log path the run wrote; a run directory that was moved or copied (a CI artifact,
a test fixture) still has its logs under ``logs/``, so that location is tried first.
"""

from __future__ import annotations

import re
from pathlib import Path

from qlora_check.results.models import CellResult
from qlora_check.results.store import LOGS_DIR

TAIL_LINES = 40
TAIL_BYTES = 16_384
# ANSI escape sequences, then every control character but newline and tab: neither belongs in HTML or XML.
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-_]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ufffe\uffff]")


def log_file(run_dir: Path, result: CellResult) -> Path | None:
    """The cell's log file if it exists, in the run's logs/ folder or where the run recorded it."""
    if not result.log_path:
        return None
    recorded = Path(result.log_path)
    for candidate in (run_dir / LOGS_DIR / recorded.name, recorded):
        if candidate.is_file():
            return candidate
    return None


def log_link(run_dir: Path, result: CellResult) -> str | None:
    """The log file's path relative to the run directory (where the reports are written), or None."""
    path = log_file(run_dir, result)
    if path is None:
        return None
    try:
        return path.resolve().relative_to(run_dir.resolve()).as_posix()
    except ValueError:
        return path.resolve().as_uri()


def clean_text(text: str) -> str:
    """Text safe for any report format: no terminal colour codes, no control characters."""
    return _CONTROL.sub("", _ANSI.sub("", text.replace("\r\n", "\n").replace("\r", "\n")))


def log_tail(path: Path | None, lines: int = TAIL_LINES, max_bytes: int = TAIL_BYTES) -> str:
    """The last ``lines`` lines of a log (reading at most ``max_bytes``); empty when there is none."""
    if path is None:
        return ""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(max(0, size - max_bytes))
            data = handle.read()
    except OSError:
        return ""
    text = clean_text(data.decode("utf-8", errors="replace"))
    kept = text.splitlines()
    if size > max_bytes and kept:
        kept = kept[1:]  # the first line read is probably cut
    return "\n".join(kept[-lines:])
