"""The plan: every cell of a matrix with what will happen to it (run, n/a or skip) and why."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from qlora_check.capabilities import HostCapabilities, not_applicable_reason
from qlora_check.matrix.cell import Cell
from qlora_check.matrix.expand import expand
from qlora_check.matrix.model import Matrix

RUN = "run"


@dataclass(frozen=True)
class PlannedCell:
    cell: Cell
    planned: str  # "run", "n/a" or "skip"
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.cell.id,
            "label": self.cell.label,
            "values": self.cell.values,
            "planned": self.planned,
            "reason": self.reason,
        }


def plan_cell(cell: Cell, host: HostCapabilities) -> PlannedCell:
    reason = not_applicable_reason(cell)
    if reason:
        return PlannedCell(cell, "n/a", reason)
    reason = host.skip_reason(cell)
    if reason:
        return PlannedCell(cell, "skip", reason)
    return PlannedCell(cell, RUN)


def plan_matrix(matrix: Matrix, host: HostCapabilities) -> list[PlannedCell]:
    return [plan_cell(cell, host) for cell in expand(matrix)]
