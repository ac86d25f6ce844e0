"""The executor seam: who runs a run's cell jobs. Locally the scheduler does (slots on this host); another
executor (a Ray pool: `qlora_check.scaleout`) takes the same jobs and records results the same way, and
decides itself which cells it cannot run (its nodes' resources, not this host's)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from qlora_check.events import Observer
from qlora_check.execution.job import CellJob
from qlora_check.matrix.cell import Cell
from qlora_check.results.models import CellResult


class Executor(Protocol):
    isolation: str

    def slots(self) -> int:
        """How many cells can run at once (for progress)."""

    def skip_reasons(self, cells: Sequence[Cell]) -> dict[str, str]:
        """Cell id -> why none of the executor's resources can run it (only for cells that cannot run)."""

    def run(self, jobs: Sequence[CellJob], record: Callable[[CellResult], None], observer: Observer) -> bool:
        """Run every job, ``record`` each result as it ends; True when interrupted (Ctrl-C)."""

    def describe(self) -> dict[str, Any]:
        """What run.json records about where the cells ran."""
