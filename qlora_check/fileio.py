"""Where qlora-check keeps files, and the one way it writes a file others may read at any moment (a temp
file, then a rename)."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

CACHE_ENV = "QLORA_CHECK_CACHE_DIR"


def cache_dir() -> Path:
    """$QLORA_CHECK_CACHE_DIR, else $XDG_CACHE_HOME/qlora-check, else ~/.cache/qlora-check (doctor's probe
    verdicts, the model folders and data sets materialised for command runners)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "qlora-check"


def write_atomically(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` so a reader sees the old file or the whole new one, never half of it."""
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    return path


def redirect_to_log(log_path: str | Path) -> None:
    """In a freshly forked child: fd 0 from /dev/null, fd 1 and 2 to ``log_path`` (one file, as a spawned child
    has). O_APPEND, because the harness may cut the log to its tail while the child writes."""
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    os.close(null)


def read_result_file(path: Path) -> dict[str, Any] | None:
    """A child's result file as a dict; None when missing, torn or not an object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
