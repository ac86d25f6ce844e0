"""Per-cell peak memory, measured inside the cell's own process.

On Linux the kernel's high-water mark is reset (``/proc/self/clear_refs`` <- 5) when a phase starts and
read (VmHWM) when it ends, relative to the RSS when the cell started: exact and free. Elsewhere a
sampling thread polls RSS. Never ``ru_maxrss`` of a child, which counts its parent's pages.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")
MIB = 2**20


def _status_kib(field: str) -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def _reset_high_water_mark() -> bool:
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


class _RssSampler:
    """Polls RSS on a thread; the fallback where the kernel keeps no resettable high-water mark."""

    def __init__(self, interval_s: float = 0.01) -> None:
        self._interval = interval_s
        self._process = psutil.Process()
        self.peak = self._process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self.peak = max(self.peak, self._process.memory_info().rss)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return max(self.peak, self._process.memory_info().rss)


class MemoryTracker:
    """Peak RSS per phase, in MiB above the RSS at cell start; framework peaks may be added."""

    def __init__(self) -> None:
        self.baseline_bytes = psutil.Process().memory_info().rss
        self.phases: dict[str, float] = {}
        self.extra: dict[str, Any] = {}
        self.method = "vmhwm" if _status_kib("VmHWM") is not None and _reset_high_water_mark() else "sampler"

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Measure the peak RSS while the block runs."""
        if self.method == "vmhwm":
            _reset_high_water_mark()
            try:
                yield
            finally:
                peak_kib = _status_kib("VmHWM") or 0
                self.phases[name] = self._above_baseline(peak_kib * 1024)
        else:
            sampler = _RssSampler()
            try:
                yield
            finally:
                self.phases[name] = self._above_baseline(sampler.stop())

    def _above_baseline(self, peak_bytes: int) -> float:
        return round(max(0, peak_bytes - self.baseline_bytes) / MIB, 3)

    def to_dict(self) -> dict[str, Any]:
        peak = max(self.phases.values(), default=0.0)
        return {
            "peak_rss_mb": peak,
            "baseline_rss_mb": round(self.baseline_bytes / MIB, 3),
            "phases_mb": dict(self.phases),
            "method": self.method,
            **self.extra,
        }
