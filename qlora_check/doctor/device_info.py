"""What torch and mlx themselves see (runs in the probe worker, never in the CLI process)."""

from __future__ import annotations

from typing import Any


def describe_devices() -> dict[str, Any]:
    return {"torch": describe_torch(), "mlx": describe_mlx()}


def describe_torch() -> dict[str, Any]:
    """torch's build (CUDA, ROCm/HIP, MPS) and the devices it can use; ``error`` when it cannot import."""
    try:
        import torch
    except Exception as exc:  # an import that fails is a finding, not a crash
        return {"importable": False, "error": f"{type(exc).__name__}: {exc}"}
    info: dict[str, Any] = {
        "importable": True,
        "version": torch.__version__,
        "cuda_build": torch.version.cuda,
        "hip_build": getattr(torch.version, "hip", None),
        "cuda_available": False,
        "device_count": 0,
        "devices": [],
        "mps_built": bool(torch.backends.mps.is_built()),
        "mps_available": bool(torch.backends.mps.is_available()),
        "cpu_capability": _cpu_capability(torch),
    }
    try:
        info["cuda_available"] = bool(torch.cuda.is_available())
        if info["cuda_available"]:
            info["device_count"] = torch.cuda.device_count()
            info["cudnn"] = torch.backends.cudnn.version()
            info["devices"] = [_cuda_device(torch, index) for index in range(info["device_count"])]
    except Exception as exc:
        info["cuda_error"] = f"{type(exc).__name__}: {exc}"
    return info


def _cuda_device(torch: Any, index: int) -> dict[str, Any]:
    properties = torch.cuda.get_device_properties(index)
    return {
        "index": index,
        "name": properties.name,
        "capability": f"{properties.major}.{properties.minor}",
        "memory_gb": round(properties.total_memory / 2**30, 1),
        "multiprocessors": properties.multi_processor_count,
        "bf16": bool(torch.cuda.is_bf16_supported()) if index == 0 else None,
    }


def _cpu_capability(torch: Any) -> str | None:
    try:
        return str(torch.backends.cpu.get_cpu_capability())
    except Exception:
        return None


def describe_mlx() -> dict[str, Any]:
    """mlx's version, default device and whether Metal or CUDA is usable."""
    try:
        import mlx.core as mx
    except Exception as exc:
        return {"importable": False, "error": f"{type(exc).__name__}: {exc}"}
    info: dict[str, Any] = {
        "importable": True,
        "version": getattr(mx, "__version__", None),
        "default_device": str(mx.default_device()),
        "metal_available": bool(mx.metal.is_available()),
        "cuda_available": bool(getattr(getattr(mx, "cuda", None), "is_available", lambda: False)()),
    }
    if info["metal_available"]:
        try:
            info["metal"] = {key: str(value) for key, value in mx.metal.device_info().items()}
        except Exception as exc:
            info["metal_error"] = f"{type(exc).__name__}: {exc}"
    return info
