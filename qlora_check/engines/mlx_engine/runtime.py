"""Where an MLX cell ran: device, versions, threads, and whether mlx-lm pulled torch in.

MLX picks its default device itself (the GPU through Metal or CUDA when there is one, else the CPU); the
engine does not override it and records what it was. On Linux the ``mlx[cpu]`` wheel computes on one
stream thread with a bundled reference BLAS, so ``OMP_NUM_THREADS`` does not change MLX (it pins numpy's
OpenBLAS); the thread count is recorded so a report can show it.
"""

from __future__ import annotations

import importlib.metadata
import sys
from pathlib import Path
from typing import Any

import mlx.core as mx


def import_mlx_lm() -> None:
    """Import the mlx-lm modules a cell uses, so that their cost can be timed and kept out of memory figures."""
    import mlx_lm.tuner.utils
    import mlx_lm.utils  # noqa: F401


def device_info() -> dict[str, Any]:
    device = mx.default_device()
    kind = "gpu" if device.type == mx.DeviceType.gpu else "cpu"
    backend = "cpu"
    if kind == "gpu":
        backend = "metal" if mx.metal.is_available() else "cuda"
    return {"device": f"mlx:{kind}", "device_repr": str(device), "mlx_backend": backend}


def process_threads() -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Threads:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def runtime_info() -> dict[str, Any]:
    """Everything about the MLX runtime worth recording next to a result."""
    return {
        **device_info(),
        "mlx": _version("mlx"),
        "mlx_lm": _version("mlx-lm"),
        "threads": process_threads(),
        # mlx-lm imports transformers at package import, which imports torch where it is installed.
        "torch_imported": "torch" in sys.modules,
    }


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None
