"""What a launcher is asked to run and what it reports back: plain records, shared by every launcher."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class LaunchRequest:
    """One child: ``python -m ENTRY ARGS...`` (a forked child calls ``ENTRY.main(ARGS)``), its log, its
    limits, and the file it must write its answer to (never stdout)."""

    entry: str
    args: tuple[str, ...]
    log_path: Path
    result_path: Path
    timeout_s: float
    threads: int = 1
    env: Mapping[str, str] = field(default_factory=dict)
    log_max_bytes: int = 2_000_000


@dataclass(frozen=True)
class RawOutcome:
    """How a child ended, uninterpreted. ``returncode`` is negative for a signal, None when unknown."""

    returncode: int | None
    timed_out: bool
    cancelled: bool
    oom_killed: bool
    result: dict[str, Any] | None
    log_tail: str
    started_at: str
    duration_s: float
