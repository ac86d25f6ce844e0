"""Accelerator memory per phase: CUDA's own peak counters; on MPS, the current counters sampled on a thread.

CPU cells need nothing here: `engines.memory.MemoryTracker` measures peak RSS for every backend.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import torch

MIB = 2**20


class DevicePeaks:
    """Peak device memory (MiB) per phase, for cuda and mps; empty for cpu."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.phases: dict[str, dict[str, float]] = {}

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            try:
                yield
            finally:
                torch.cuda.synchronize(self.device)
                self.phases[name] = {
                    "max_allocated_mb": round(torch.cuda.max_memory_allocated(self.device) / MIB, 3),
                    "max_reserved_mb": round(torch.cuda.max_memory_reserved(self.device) / MIB, 3),
                }
        elif self.device.type == "mps":
            sampler = _MpsSampler()
            try:
                yield
            finally:
                self.phases[name] = sampler.stop()
        else:
            yield

    def to_dict(self) -> dict[str, Any]:
        if not self.phases:
            return {}
        method = "torch.cuda.max_memory_*" if self.device.type == "cuda" else "torch.mps sampled"
        return {"device_phases_mb": self.phases, "device_method": method}


class _MpsSampler:
    """MPS keeps no resettable peak: poll current and driver-allocated memory."""

    def __init__(self, interval_s: float = 0.01) -> None:
        self._interval = interval_s
        self.current = self.driver = 0
        self._stop = threading.Event()
        self._sample()
        self._thread = threading.Thread(target=self._loop, name="mps-sampler", daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        self.current = max(self.current, torch.mps.current_allocated_memory())
        self.driver = max(self.driver, torch.mps.driver_allocated_memory())

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self._sample()

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join()
        torch.mps.synchronize()
        self._sample()
        return {
            "peak_current_allocated_mb": round(self.current / MIB, 3),
            "peak_driver_allocated_mb": round(self.driver / MIB, 3),
        }
