"""A cell's demand in the core's own terms (`execution.resources.demand_for`) plus the quantizer families it
needs (from the specs): the one place scale-out reads them, so placement never re-derives them."""

from __future__ import annotations

from dataclasses import dataclass

from qlora_check.execution.resources import CPU, demand_for
from qlora_check.matrix.cell import Cell
from qlora_check.quantizers import family_for_optimizer, family_of


@dataclass(frozen=True)
class ScaleDemand:
    threads: int
    device_kind: str  # "cpu", "cuda" or "metal"
    devices: int
    memory_mb: float | None
    families: tuple[str, ...]  # quantizer families whose probe must have passed on the node


def cell_demand(cell: Cell) -> ScaleDemand:
    """The core's demand for one rank, times the cell's ranks (all on one node)."""
    demand = demand_for(cell)
    ranks = max(1, cell.typed.world_size)
    devices = demand.devices * ranks if demand.device_kind != CPU else 0
    return ScaleDemand(demand.threads * ranks, demand.device_kind, devices, demand.memory_mb, _families(cell))


def _families(cell: Cell) -> tuple[str, ...]:
    specs = (family_of(cell.typed.quantizer), family_for_optimizer(cell.typed.optimizer))
    return tuple(dict.fromkeys(spec.family for spec in specs if spec is not None))
