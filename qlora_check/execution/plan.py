"""The plan: every cell of a matrix with what will happen to it (run, n/a or skip) and why.

Combinations that are invalid by definition (n/a) are left out of the plan and counted per reason, unless
the user wrote the cell explicitly (an include entry of its own): that one is recorded as n/a, with its
reason. A pairwise / n-wise matrix is steered towards cells that run here (not n/a, not skipped).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from qlora_check.capabilities import HostCapabilities, not_applicable_reason
from qlora_check.matrix.axes import AxisValue
from qlora_check.matrix.cell import Cell
from qlora_check.matrix.expand import expand_matrix
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


@dataclass(frozen=True)
class Plan:
    """The cells to record (run, skip, explicit n/a), the n/a combinations left out, uncoverable tuples."""

    cells: list[PlannedCell]
    pruned: list[PlannedCell] = field(default_factory=list)
    impossible: tuple[dict[str, AxisValue], ...] = ()
    strategy: str = "product"

    def pruned_reasons(self) -> dict[str, int]:
        """n/a combinations left out of the plan, per reason, most frequent first."""
        return dict(Counter(entry.reason for entry in self.pruned).most_common())

    def not_applicable_summary(self) -> dict[str, Any]:
        """What run.json and the report header say about the pruned combinations."""
        return {"count": len(self.pruned), "reasons": self.pruned_reasons()}


def runnable_here(
    host: HostCapabilities | None, runners: Mapping[str, RunnerDefinition] | None = None
) -> Callable[[dict[str, AxisValue]], bool]:
    """The predicate a pairwise strategy covers with: not n/a, and not skipped on this host (if one decides)."""

    def is_runnable(values: dict[str, AxisValue]) -> bool:
        cell = Cell.from_values(values)
        if not_applicable_reason(cell, runners) is not None:
            return False
        return host is None or host.skip_reason(cell) is None

    return is_runnable


def build_plan(matrix: Matrix, host: HostCapabilities | None, shard: tuple[int, int] | None = None) -> Plan:
    """Expand ``matrix`` for this host, prune n/a combinations, keep shard I of N (``host`` None: see plan_cell)."""
    check_definitions(matrix)  # unknown readers and bad regexes are bad input, before any cell runs
    runnable = runnable_here(host, matrix.runners) if matrix.strategy.strength else None
    expansion = expand_matrix(matrix, runnable)
    cells: list[PlannedCell] = []
    pruned: list[PlannedCell] = []
    for cell in expansion.cells:
        if not in_shard(cell, shard):
            continue
        entry = plan_cell(cell, host, matrix.runners)
        kept = entry.planned is not PlanKind.NOT_APPLICABLE or cell.id in expansion.explicit
        (cells if kept else pruned).append(entry)
    return Plan(cells, pruned, expansion.impossible, matrix.strategy.name)


def plan_matrix(
    matrix: Matrix, host: HostCapabilities | None, shard: tuple[int, int] | None = None
) -> list[PlannedCell]:
    """The cells to record, n/a combinations of the axes left out (see `build_plan`)."""
    return build_plan(matrix, host, shard).cells
