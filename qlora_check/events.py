"""Progress events: the core emits them, the CLI renders them (the core never prints).

They sit below every package that emits them (execution, reports, scale-out), so none of those has to
import another to say what happened.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from qlora_check.matrix.cell import Cell
from qlora_check.results.models import CellResult


@dataclass(frozen=True)
class RunStarted:
    run_dir: Path
    cells: int  # cells this run records (n/a and skip included; those already done on resume excluded)
    jobs: int


@dataclass(frozen=True)
class CellStarted:
    cell: Cell


@dataclass(frozen=True)
class CellFinished:
    result: CellResult


@dataclass(frozen=True)
class Notice:
    """Something the user should know that is not a cell's result (a warning, a fallback)."""

    message: str


Event = RunStarted | CellStarted | CellFinished | Notice
Observer = Callable[[Event], None]


def ignore(_: Event) -> None:
    """An observer that drops every event."""
