"""`memory_tracker`: the peak memory of a block of a user's test, measured the way cells measure it.

Host memory is the cells' own method (`qlora_check.engines.memory.MemoryTracker`: the kernel's VmHWM reset
through ``/proc/self/clear_refs``, or a sampling thread where there is none), relative to the RSS when the
block started. Device memory is the framework's own peak counter: CUDA's allocator peaks, MPS sampled, MLX's
``mx.get_peak_memory``. Trackers reset process-wide counters, so they must not be nested.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from qlora_check.engines.memory import MIB, MemoryTracker
from qlora_check.matrix.axes import AXES

_PHASE = "block"


@dataclass
class MemoryStats:
    """What `memory_tracker` measured; every figure is None until the block has ended.

    ``peak_rss_mb`` is the peak resident memory of the process above its RSS when the block started (MiB);
    ``device_peak_mb`` the backend's own peak (CUDA allocated, MPS current allocated, MLX peak), None on cpu.
    ``method`` names how host memory was measured, ``device_method`` how device memory was.
    """

    backend: str
    method: str = ""
    peak_rss_mb: float | None = None
    baseline_rss_mb: float | None = None
    device_peak_mb: float | None = None
    device_method: str | None = None
    device: dict[str, float] = field(default_factory=dict)

    @property
    def peak_mb(self) -> float | None:
        """The figure that matters on this backend: the device peak where there is one, else host RSS."""
        return self.device_peak_mb if self.device_peak_mb is not None else self.peak_rss_mb

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "peak_mb": self.peak_mb}


@contextlib.contextmanager
def memory_tracker(backend: str = "cpu") -> Iterator[MemoryStats]:
    """Measure the peak host and device memory of the ``with`` block; the yielded stats fill in at its end.

    ``backend`` is a backend axis value (``cpu``, ``cuda``, ``mps``, ``mlx``); torch or MLX is imported only
    for the device counters of its own backends.
    """
    backend = str(AXES["backend"].normalise(backend))
    stats = MemoryStats(backend)
    host = MemoryTracker()
    stats.method = host.method
    with host.phase(_PHASE), _device_peaks(backend, stats):
        yield stats
    stats.peak_rss_mb = host.phases[_PHASE]
    stats.baseline_rss_mb = round(host.baseline_bytes / MIB, 3)


@contextlib.contextmanager
def _device_peaks(backend: str, stats: MemoryStats) -> Iterator[None]:
    if backend == "mlx":
        import mlx.core as mx

        mx.reset_peak_memory()
        yield
        stats.device_peak_mb = round(mx.get_peak_memory() / MIB, 3)
        stats.device = {"peak_mb": stats.device_peak_mb}
        stats.device_method = "mlx.core.get_peak_memory"
    elif backend in ("cuda", "mps"):
        import torch

        from qlora_check.engines.torch_engine.device_memory import DevicePeaks

        peaks = DevicePeaks(torch.device(backend))
        with peaks.phase(_PHASE):
            yield
        recorded = peaks.to_dict()
        stats.device = dict(recorded["device_phases_mb"][_PHASE])
        stats.device_method = str(recorded["device_method"])
        key = "max_allocated_mb" if backend == "cuda" else "peak_current_allocated_mb"
        stats.device_peak_mb = stats.device[key]
    else:
        yield
