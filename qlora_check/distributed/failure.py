"""`RankFailure`: a rank crashed, raised, ran out of memory or hung, so the whole cell ended.

It carries how the rank ended, uninterpreted (exit code or signal, timed out, its recorded error); the
worker turns that into the cell's status with the one classifier (`execution.classify.rank_status`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class RankFailure(Exception):
    rank: int
    reason: str  # one line naming the rank
    returncode: int | None  # negative: the signal that killed it
    timed_out: bool
    error_type: str
    message: str
    traceback: str = ""
    log_tail: str = ""
    launch: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.reason
