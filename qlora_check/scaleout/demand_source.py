"""A cell's demand in the core's own terms (threads, device kind and count, memory) plus the quantizer
families it needs: the one place scale-out reads them from the core, so placement never re-derives them."""

from __future__ import annotations

from dataclasses import dataclass

from qlora_check.capabilities import OPTIMIZER_LIBRARY
from qlora_check.doctor.models import FAMILY_LIBRARY, PLAIN, family_of
from qlora_check.execution.slots import CUDA, METAL, resource_of
from qlora_check.matrix.cell import Cell


@dataclass(frozen=True)
class ScaleDemand:
    threads: int
    device_kind: str  # "cpu", "cuda" or "metal"
    devices: int
    memory_mb: int | None
    families: tuple[str, ...]  # quantizer families whose probe must have passed on the node


def cell_demand(cell: Cell) -> ScaleDemand:
    """Each rank takes one thread, and one device when the cell's backend is a device."""
    ranks = max(1, int(cell["world_size"]))
    kind = resource_of(cell)
    devices = ranks if kind == CUDA else (1 if kind == METAL else 0)
    return ScaleDemand(ranks, kind, devices, None, _families(cell))


def _families(cell: Cell) -> tuple[str, ...]:
    families = []
    family = family_of(str(cell["quantizer"]))
    if family != PLAIN:
        families.append(family)
    library = OPTIMIZER_LIBRARY.get(str(cell["optimizer"]))
    if library is not None:
        families += [name for name, (module, _) in FAMILY_LIBRARY.items() if module == library[0]]
    return tuple(dict.fromkeys(families))
