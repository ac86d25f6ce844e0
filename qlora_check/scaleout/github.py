"""GitHub Actions shards for machines Ray cannot join (hosted Mac runners): a ``strategy.matrix`` of N
shards balanced by expected time, each naming its cells (``run MATRIX --cells "$IDS"``), merged afterwards.

Balance: the cells' wall times recorded by the last run when there is one (a cell it did not run counts
as the median of those it did), else one unit per cell; n/a cells cost nothing. Cells go longest first
to the least loaded shard (LPT, within 4/3 of the best split), so the emission is deterministic.
"""

from __future__ import annotations

import heapq
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from qlora_check.errors import QloraCheckError
from qlora_check.execution.plan import PlanKind, PlannedCell

MAX_JOBS = 256  # GitHub Actions' limit on the jobs one matrix may generate


@dataclass(frozen=True)
class Shard:
    index: int  # 1-based
    count: int
    cell_ids: tuple[str, ...]
    expected: float  # seconds when timed from history, else cells

    def to_dict(self, timed: bool) -> dict[str, Any]:
        return {
            "shard": f"{self.index}/{self.count}",
            "index": self.index,
            "cells": " ".join(self.cell_ids),
            "size": len(self.cell_ids),
            "expected_s" if timed else "expected_cells": round(self.expected, 1),
        }


def cell_costs(planned: Sequence[PlannedCell], history: Mapping[str, float]) -> dict[str, float]:
    """Cell id -> cost: recorded seconds (median of the known for the rest) with history, else 1 per cell."""
    known = [history[entry.cell.id] for entry in planned if entry.cell.id in history]
    fallback = statistics.median(known) if known else 1.0
    costs = {}
    for entry in planned:
        if entry.planned is PlanKind.NOT_APPLICABLE:
            costs[entry.cell.id] = 0.0
        else:
            costs[entry.cell.id] = history.get(entry.cell.id, fallback) if known else 1.0
    return costs


def balanced_shards(planned: Sequence[PlannedCell], count: int, history: Mapping[str, float]) -> list[Shard]:
    """At most ``count`` non-empty shards covering every planned cell once, balanced by expected cost."""
    if count < 1 or count > MAX_JOBS:
        raise QloraCheckError(f"--emit github N needs 1 <= N <= {MAX_JOBS}, not {count}")
    if not planned:
        raise QloraCheckError("the matrix expands to no cells: nothing to shard")
    costs = cell_costs(planned, history)
    order = sorted(range(len(planned)), key=lambda i: -costs[planned[i].cell.id])  # stable: plan order on ties
    shards = min(count, len(planned))
    heap = [(0.0, 0, index) for index in range(shards)]  # (load, cells, index): free cells spread out too
    members: list[list[int]] = [[] for _ in range(shards)]
    for position in order:
        load, size, index = heapq.heappop(heap)
        members[index].append(position)
        heapq.heappush(heap, (load + costs[planned[position].cell.id], size + 1, index))
    return [
        Shard(
            index + 1,
            shards,
            tuple(planned[i].cell.id for i in sorted(chosen)),
            sum(costs[planned[i].cell.id] for i in chosen),
        )
        for index, chosen in enumerate(members)
    ]


def github_matrix(planned: Sequence[PlannedCell], count: int, history: Mapping[str, float]) -> dict[str, Any]:
    """The ``strategy.matrix`` document: ``{"include": [{"shard": "1/4", "cells": "id id …", …}, …]}``."""
    timed = any(entry.cell.id in history for entry in planned)
    return {"include": [shard.to_dict(timed) for shard in balanced_shards(planned, count, history)]}
