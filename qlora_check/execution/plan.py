"""The plan: every cell of a matrix with what will happen to it (run, n/a or skip) and why."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from qlora_check.capabilities import HostCapabilities, not_applicable_reason
from qlora_check.matrix.cell import Cell
from qlora_check.matrix.expand import expand
from qlora_check.matrix.model import Matrix
from qlora_check.matrix.runners import RunnerDefinition
from qlora_check.runners.command_rules import check_definitions


class PlanKind(str, Enum):
    """What will happen to a planned cell."""

    def __str__(self) -> str:
        return str(self.value)

    RUN = "run"
    NOT_APPLICABLE = "n/a"
    SKIP = "skip"


RUN = PlanKind.RUN


@dataclass(frozen=True)
class PlannedCell:
    cell: Cell
    planned: PlanKind
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.cell.id,
            "label": self.cell.label,
            "values": self.cell.values,
            "planned": self.planned.value,
            "reason": self.reason,
        }


def plan_cell(
    cell: Cell, host: HostCapabilities | None, runners: Mapping[str, RunnerDefinition] | None = None
) -> PlannedCell:
    """``host`` None: no host decides what can run (an executor with its own resources, a Ray pool, does)."""
    reason = not_applicable_reason(cell, runners)
    if reason:
        return PlannedCell(cell, PlanKind.NOT_APPLICABLE, reason)
    reason = host.skip_reason(cell) if host is not None else None
    if reason:
        return PlannedCell(cell, PlanKind.SKIP, reason)
    return PlannedCell(cell, PlanKind.RUN)


def parse_shard(text: str) -> tuple[int, int]:
    """``"I/N"`` → (I, N) with 1 ≤ I ≤ N; ValueError with a clear message otherwise."""
    index, slash, count = text.partition("/")
    if not slash or not index.strip().isdigit() or not count.strip().isdigit():
        raise ValueError(f"a shard is I/N, e.g. 1/4, not {text!r}")
    i, n = int(index), int(count)
    if not 1 <= i <= n:
        raise ValueError(f"shard {text!r}: I must be between 1 and N")
    return i, n


def in_shard(cell: Cell, shard: tuple[int, int] | None) -> bool:
    """A stable partition by cell id: the same cell lands in the same shard on every machine."""
    if shard is None:
        return True
    index, count = shard
    return int(cell.id, 16) % count == index - 1


def plan_matrix(
    matrix: Matrix, host: HostCapabilities | None, shard: tuple[int, int] | None = None
) -> list[PlannedCell]:
    check_definitions(matrix)  # unknown readers and bad regexes are bad input, before any cell runs
    return [plan_cell(cell, host, matrix.runners) for cell in expand(matrix) if in_shard(cell, shard)]
