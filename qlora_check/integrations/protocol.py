"""Appending protocol lines to the file named by $QLORA_CHECK_METRICS; nothing at all when it is unset.

The variable is read at every write, not at import, so a callback built before the runner sets it (or a
script run both inside and outside qlora-check) does the right thing.
"""

from __future__ import annotations

import os

from qlora_check.runners.readers.jsonl import METRICS_ENV, protocol_line


def metrics_path() -> str | None:
    return os.environ.get(METRICS_ENV) or None


def number(value: object) -> float | None:
    """A float from a logged value (transformers 5 may log strings); None when it is not a number."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def write_point(step: int, loss: float, lr: float | None = None) -> bool:
    """Append one point; False (and no file touched) when $QLORA_CHECK_METRICS is unset."""
    path = metrics_path()
    if path is None:
        return False
    # NaN/inf are written as JSON's NaN/Infinity on purpose: a diverged run must reach the `finite` check.
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(protocol_line(step, loss, lr))
    return True
