"""A cell's demand as Ray resources, and whether any live node can meet it (checked before submitting).

Ray lets a task whose resources no node has wait forever (only a printed warning), so a cell no node can
run is decided here, up front, as `skip` with the reason ("no node offers backend cuda + bnb").

Amounts: a device cell (CUDA, Metal) takes one device per rank of its backend's resource; a CPU cell takes
a sliver of the backend's marker (``MARKER``) and its threads from Ray's own ``CPU``, which bounds how many
run at once. A quantizer family is a marker too: it says the node can, not how many at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from qlora_check.matrix.cell import Cell
from qlora_check.scaleout.demand_source import cell_demand
from qlora_check.scaleout.node_resources import backend_resource, pair_resource

MARKER = 0.001  # Ray keeps four decimals of a custom resource; 1000 cells fit under one advertised unit


@dataclass(frozen=True)
class CellNeeds:
    """What a cell asks Ray for, and the words that say so to people."""

    num_cpus: float
    num_gpus: float
    resources: dict[str, float]
    memory_bytes: int | None = None
    wants: tuple[str, ...] = field(default_factory=tuple)  # ("backend cuda", "bnb")

    def ray_options(self) -> dict[str, Any]:
        """Keyword arguments for ``remote_function.options``."""
        options: dict[str, Any] = {"num_cpus": self.num_cpus, "num_gpus": self.num_gpus, "resources": self.resources}
        if self.memory_bytes:
            options["memory"] = self.memory_bytes
        return options


def needs_of(cell: Cell) -> CellNeeds:
    """The Ray resources one cell (all its ranks, on one node) needs."""
    demand = cell_demand(cell)
    backend = str(cell["backend"])
    device_cell = demand.device_kind != "cpu"
    resources = {backend_resource(backend): float(demand.devices) if device_cell else MARKER}
    for family in demand.families:
        resources[pair_resource(backend, family)] = MARKER
    memory = int(demand.memory_mb * 2**20) if demand.memory_mb else None
    gpus = float(demand.devices) if demand.device_kind == "cuda" else 0.0
    return CellNeeds(float(demand.threads), gpus, resources, memory, (f"backend {backend}", *demand.families))


def node_can_run(needs: CellNeeds, node: Mapping[str, Any]) -> bool:
    """Whether a live node's total resources (``ray.nodes()`` entry) could ever hold the cell."""
    if not node.get("Alive", False):
        return False
    total: Mapping[str, float] = node.get("Resources", {})
    wanted = {**needs.resources, "CPU": needs.num_cpus, "GPU": needs.num_gpus}
    if needs.memory_bytes:
        wanted["memory"] = float(needs.memory_bytes)
    return all(amount <= 0 or total.get(name, 0.0) >= amount for name, amount in wanted.items())


def eligible_nodes(needs: CellNeeds, nodes: Iterable[Mapping[str, Any]]) -> list[str]:
    """Ids of the live nodes that could run the cell."""
    return [str(node["NodeID"]) for node in nodes if node_can_run(needs, node)]


def skip_reason(needs: CellNeeds, nodes: Sequence[Mapping[str, Any]]) -> str | None:
    """Why no live node can run the cell, or None when one can."""
    if eligible_nodes(needs, nodes):
        return None
    alive = [node for node in nodes if node.get("Alive", False)]
    offering = [node for node in alive if _offers(needs.resources, node)]
    if not offering:
        return f"no node offers {' + '.join(needs.wants)} ({len(alive)} live node(s) in the Ray cluster)"
    sizes = [f"{needs.num_cpus:g} CPU"]
    if needs.num_gpus:
        sizes.append(f"{needs.num_gpus:g} GPU")
    if needs.memory_bytes:
        sizes.append(f"{needs.memory_bytes / 2**20:.0f} MiB")
    return f"no node that offers {' + '.join(needs.wants)} has {', '.join(sizes)} in total"


def _offers(resources: Mapping[str, float], node: Mapping[str, Any]) -> bool:
    """Whether the node has each of the resources at all (how much is the size check's business)."""
    total: Mapping[str, float] = node.get("Resources", {})
    return all(total.get(name, 0.0) > 0 for name in resources)
