"""What a cell needs (a `Demand`) and what it is given (a `Grant`), and the pool that grants them.

- CPU: a budget of compute threads (``--jobs``, default one per core); a cell takes its demanded threads
  (1: two processes with two OpenMP threads each on two cores ran ~140x slower than one each), clamped to
  the budget. Every cell, whatever its device, also counts against ``--jobs``: it is the most cells at once.
- CUDA: whole devices, pinned with ``CUDA_VISIBLE_DEVICES``; a demand for N devices gets N distinct ones or
  waits until N are free.
- Metal (mps, and mlx on Apple silicon): the whole GPU is one device, one cell at a time.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from qlora_check.engines import engine_for_backend
from qlora_check.engines.interface import ResourceKind
from qlora_check.errors import QloraCheckError
from qlora_check.matrix.cell import Cell

CPU: ResourceKind = "cpu"
CUDA: ResourceKind = "cuda"
METAL: ResourceKind = "metal"


@dataclass(frozen=True)
class Demand:
    """What one cell asks for: compute threads, devices of a kind, and (optionally) an estimate of memory."""

    threads: int = 1
    device_kind: ResourceKind = CPU
    devices: int = 0
    memory_mb: float | None = None


@dataclass(frozen=True)
class Grant:
    """What a started cell holds until it ends."""

    threads: int
    device_kind: ResourceKind = CPU
    devices: tuple[str, ...] = ()


def resource_of(cell: Cell) -> ResourceKind:
    """The device kind a cell occupies: cpu, cuda or metal (its engine's spec says, per backend)."""
    backend = cell.typed.backend
    return engine_for_backend(backend).resource_of(backend)


def demand_for(cell: Cell) -> Demand:
    """A cell's demand: one thread, and one device when its backend is a GPU; a multi-rank cell one thread
    (and one device) per rank."""
    kind = resource_of(cell)
    ranks = cell.typed.world_size if cell.typed.distributed != "none" else 1
    return Demand(threads=ranks, device_kind=kind, devices=0 if kind == CPU else ranks)


def cuda_device_ids(count: int) -> list[str]:
    """The ids to pin cells to: the parent's own CUDA_VISIBLE_DEVICES entries when set, else 0..count-1."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [entry.strip() for entry in visible.split(",") if entry.strip()][:count]
    return [str(index) for index in range(count)]


class SlotPool:
    """Free capacity per resource. Thread-safe; `try_acquire` never blocks."""

    def __init__(self, cpu_threads: int, cuda_devices: Sequence[str] = ()) -> None:
        self.cpu_threads = max(1, cpu_threads)
        self._free_threads = self.cpu_threads
        self._cuda = list(cuda_devices)
        self._free_cuda = list(cuda_devices)
        self._metal_free = True
        self._lock = threading.Lock()

    def try_acquire(self, demand: Demand) -> Grant | None:
        """A grant for ``demand`` (threads clamped to the budget), or None when it must wait."""
        threads = min(max(1, demand.threads), self.cpu_threads)
        with self._lock:
            if self._free_threads < threads:
                return None
            devices: tuple[str, ...] = ()
            if demand.device_kind == CUDA:
                wanted = max(1, demand.devices)
                if len(self._free_cuda) < wanted:
                    return None
                devices = tuple(self._free_cuda[:wanted])
                del self._free_cuda[:wanted]
            elif demand.device_kind == METAL:
                if not self._metal_free:
                    return None
                self._metal_free = False
                devices = ("metal",)
            self._free_threads -= threads
        return Grant(threads, demand.device_kind, devices)

    def release(self, grant: Grant) -> None:
        with self._lock:
            self._free_threads += grant.threads
            if grant.device_kind == CUDA:
                self._free_cuda.extend(grant.devices)
            elif grant.device_kind == METAL:
                self._metal_free = True

    def check(self, demands: Iterable[Demand]) -> None:
        """Fail early, not by waiting forever, when a demand can never be met by this pool."""
        for demand in demands:
            if demand.device_kind == CUDA and len(self._cuda) < max(1, demand.devices):
                raise QloraCheckError(
                    f"cuda cells are planned that need {max(1, demand.devices)} device(s) but the scheduler has "
                    f"{len(self._cuda)}: no CUDA device to give them"
                )
