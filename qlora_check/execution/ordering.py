"""The order cells start in: longest expected first (a long cell started last would leave the other slots
idle at the end), using the previous run's durations when known, else a heuristic from the cell's size."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path

from qlora_check.errors import ResultsError
from qlora_check.execution.job import CellJob
from qlora_check.matrix.cell import Cell
from qlora_check.matrix.cost import relative_cost
from qlora_check.results.store import LATEST, read_results


def heuristic_seconds(cell: Cell) -> float:
    """A rough cost in seconds, for ordering only (`matrix/cost.py`: tokens, precision, training type, engine)."""
    return relative_cost(cell.values)


def previous_durations(root: Path) -> dict[str, float]:
    """Cell id -> seconds, from ROOT/latest (the previous run), for cells that ran there."""
    latest = root / LATEST
    if not latest.exists():
        return {}
    try:
        results = read_results(latest).final()
    except (ResultsError, OSError):
        return {}
    durations = {}
    for cell_id, result in results.items():
        seconds = result.timings.get("wall_s") or result.timings.get("total_s")
        if seconds:
            durations[cell_id] = float(seconds)
    return durations


def expected_seconds(jobs: Sequence[CellJob], history: Mapping[str, float]) -> dict[str, float]:
    """Each job's expected duration: its previous duration, else the heuristic scaled to this host
    (the median ratio of known durations to their heuristic, so known and unknown cells compare)."""
    ratios = [history[job.cell.id] / heuristic_seconds(job.cell) for job in jobs if job.cell.id in history]
    scale = statistics.median(ratios) if ratios else 1.0
    return {
        job.cell.id: history[job.cell.id] if job.cell.id in history else heuristic_seconds(job.cell) * scale
        for job in jobs
    }


def longest_first(jobs: Sequence[CellJob], history: Mapping[str, float]) -> list[CellJob]:
    """Jobs by expected duration, longest first; ties keep the plan's order (the sort is stable)."""
    expected = expected_seconds(jobs, history)
    return sorted(jobs, key=lambda job: -expected[job.cell.id])
