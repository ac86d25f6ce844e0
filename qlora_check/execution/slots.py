"""Slots by resource, and the order cells start in.

- CPU: a budget of compute threads (``--jobs``, default one per core); a cell takes ``job.threads``
  (1: two processes with two OpenMP threads each on two cores ran ~140x slower than one each).
  Every cell, whatever its device, also counts against ``--jobs``: it is the most cells at once.
- CUDA: one cell per device at a time, pinned with ``CUDA_VISIBLE_DEVICES``.
- Metal (mps, and mlx on Apple silicon): one cell at a time, the whole GPU is one device.
- Order: longest expected first (a long cell started last would leave the other slots idle at the
  end), using the previous run's durations when known, else a heuristic from the cell's size.
"""

from __future__ import annotations

import os
import statistics
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from qlora_check.errors import QloraCheckError, ResultsError
from qlora_check.execution.isolation import CellJob
from qlora_check.matrix.cell import Cell
from qlora_check.results.store import LATEST, read_results

CPU, CUDA, METAL = "cpu", "cuda", "metal"


def resource_of(cell: Cell) -> str:
    """The device a cell occupies: cpu, cuda or metal."""
    backend = str(cell["backend"])
    if backend == "cuda":
        return CUDA
    if backend == "mps" or (backend == "mlx" and sys.platform == "darwin"):
        return METAL
    return CPU


def cuda_device_ids(count: int) -> list[str]:
    """The ids to pin cells to: the parent's own CUDA_VISIBLE_DEVICES entries when set, else 0..count-1."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [entry.strip() for entry in visible.split(",") if entry.strip()][:count]
    return [str(index) for index in range(count)]


@dataclass(frozen=True)
class Grant:
    """What a started cell holds until it ends."""

    threads: int
    device: str | None = None
    metal: bool = False


class SlotPool:
    """Free capacity per resource. Thread-safe; `try_acquire` never blocks."""

    def __init__(self, cpu_threads: int, cuda_devices: Sequence[str] = ()) -> None:
        self.cpu_threads = max(1, cpu_threads)
        self._free_threads = self.cpu_threads
        self._free_devices = list(cuda_devices)
        self._metal_free = True
        self._lock = threading.Lock()

    def try_acquire(self, job: CellJob) -> tuple[CellJob, Grant] | None:
        """The job as it must run (threads, pinned device) and what it holds; None when it must wait."""
        threads = min(max(1, job.threads), self.cpu_threads)
        resource = resource_of(job.cell)
        with self._lock:
            if self._free_threads < threads:
                return None
            if resource == CUDA and not self._free_devices:
                return None
            if resource == METAL and not self._metal_free:
                return None
            self._free_threads -= threads
            extra = dict(job.extra_env)
            grant = Grant(threads)
            if resource == CUDA:
                grant = Grant(threads, device=self._free_devices.pop(0))
                extra["CUDA_VISIBLE_DEVICES"] = grant.device or ""
            elif resource == METAL:
                self._metal_free = False
                grant = Grant(threads, metal=True)
        return replace(job, threads=threads, extra_env=extra), grant

    def release(self, grant: Grant) -> None:
        with self._lock:
            self._free_threads += grant.threads
            if grant.device is not None:
                self._free_devices.append(grant.device)
            if grant.metal:
                self._metal_free = True

    def check(self, jobs: Sequence[CellJob]) -> None:
        """Fail early, not by waiting forever, when a job needs a device this pool does not have."""
        if any(resource_of(job.cell) == CUDA for job in jobs) and not self._free_devices:
            raise QloraCheckError("cuda cells are planned but the scheduler has no CUDA device to give them")


def heuristic_seconds(cell: Cell) -> float:
    """A rough cost in seconds, for ordering only: tokens processed, scaled by what makes a cell slower."""
    tokens = int(cell["steps"]) * int(cell["grad_accum"]) * int(cell["batch_size"]) * int(cell["seq_len"])
    factor = 1.0
    if cell["train_type"] in ("full", "llama_pro"):
        factor *= 1.5
    if str(cell["train_type"]).endswith("dora"):
        factor *= 1.5
    if cell["quantizer"] != "none":
        factor *= 2.0
    if cell["gradient_checkpointing"]:
        factor *= 1.3
    if cell["backend"] == "mlx":
        factor *= 0.7
    return 0.1 + tokens * factor * 1.2e-5  # ~0.2 s for the 40-step tiny LoRA cell on one CPU core


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
