"""Which backends (cpu, cuda, mps, mlx) are present, and the precise reason for each one that is not.

One function serves both the cheap path (`plan`: platform facts, nvidia-smi, installed modules) and
the full one (`doctor`, or `plan` with a cached doctor answer: what torch and mlx themselves saw).
"""

from __future__ import annotations

import os
import platform
from collections.abc import Mapping
from typing import Any

from qlora_check.doctor.models import BackendStatus

NO_CUDA = "no CUDA device on this host"


def assess_backends(
    installed: Mapping[str, bool],
    devices: Mapping[str, Any] | None,
    gpus: list[dict[str, str]],
) -> dict[str, BackendStatus]:
    """``installed``: module name -> importable; ``devices``: the probe worker's device report, or None
    when only cheap facts are known; ``gpus``: nvidia-smi's list."""
    torch_info = (devices or {}).get("torch")
    mlx_info = (devices or {}).get("mlx")
    return {
        "cpu": _cpu(installed, torch_info),
        "cuda": _cuda(installed, torch_info, gpus),
        "mps": _mps(installed, torch_info),
        "mlx": _mlx(installed, mlx_info),
    }


def _torch_missing(installed: Mapping[str, bool], torch_info: Mapping[str, Any] | None) -> str:
    if not installed.get("torch", False):
        return "torch is not installed (pip install torch)"
    if torch_info is not None and not torch_info.get("importable", False):
        return f"torch does not import: {torch_info.get('error', 'unknown error')}"
    return ""


def _cpu(installed: Mapping[str, bool], torch_info: Mapping[str, Any] | None) -> BackendStatus:
    missing = _torch_missing(installed, torch_info)
    if missing:
        return BackendStatus("cpu", False, missing)
    details = {}
    if torch_info:
        details = {"torch": torch_info.get("version"), "cpu_capability": torch_info.get("cpu_capability")}
    return BackendStatus("cpu", True, details=details)


def _visible_gpus(gpus: list[dict[str, str]]) -> list[dict[str, str]]:
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return gpus
    return gpus[: len([device for device in visible.split(",") if device.strip()])]


def _cuda(
    installed: Mapping[str, bool], torch_info: Mapping[str, Any] | None, gpus: list[dict[str, str]]
) -> BackendStatus:
    missing = _torch_missing(installed, torch_info)
    if missing:
        return BackendStatus("cuda", False, missing)
    visible = _visible_gpus(gpus)
    if torch_info is None:  # cheap path: nvidia-smi (ROCm shows up only once the doctor asked torch)
        if visible:
            return BackendStatus("cuda", True, details={"gpus": visible, "verified": False})
        if gpus:
            return BackendStatus("cuda", False, f"{NO_CUDA}: CUDA_VISIBLE_DEVICES hides every GPU nvidia-smi lists")
        return BackendStatus("cuda", False, f"{NO_CUDA} (nvidia-smi lists none)")
    details = {
        "torch": torch_info.get("version"),
        "cuda_build": torch_info.get("cuda_build"),
        "hip_build": torch_info.get("hip_build"),
        "kind": "rocm" if torch_info.get("hip_build") else "cuda",
        "driver": gpus[0]["driver"] if gpus else None,
    }
    if torch_info.get("cuda_available"):
        details.update(device_count=torch_info.get("device_count"), devices=torch_info.get("devices", []))
        return BackendStatus("cuda", True, details=details)
    version = torch_info.get("version")
    if not torch_info.get("cuda_build") and not torch_info.get("hip_build"):
        reason = f"{NO_CUDA}: torch {version} is a CPU-only build (torch.version.cuda and torch.version.hip are None)"
    else:
        build = f"ROCm {details['hip_build']}" if details["kind"] == "rocm" else f"CUDA {details['cuda_build']}"
        seen = torch_info.get("cuda_error") or ("nvidia-smi lists no GPU" if not gpus else "no usable device")
        reason = f"{NO_CUDA}: torch {version} is built for {build} but torch.cuda.is_available() is False ({seen})"
    return BackendStatus("cuda", False, reason, details)


def _mps(installed: Mapping[str, bool], torch_info: Mapping[str, Any] | None) -> BackendStatus:
    system, machine = platform.system(), platform.machine()
    macos = platform.mac_ver()[0] or None
    if system != "Darwin" or machine != "arm64":
        where = f"macOS {macos} on {machine}" if system == "Darwin" else f"{system} {machine}"
        reason = f"no Apple Metal (MPS) device on this host ({where}; MPS needs macOS on Apple silicon)"
        return BackendStatus("mps", False, reason)
    missing = _torch_missing(installed, torch_info)
    if missing:
        return BackendStatus("mps", False, missing, {"macos": macos})
    details: dict[str, Any] = {"macos": macos}
    if torch_info is None:
        return BackendStatus("mps", True, details={**details, "verified": False})
    details.update(torch=torch_info.get("version"), mps_built=torch_info.get("mps_built"))
    if not torch_info.get("mps_built"):
        return BackendStatus("mps", False, f"torch {torch_info.get('version')} was built without MPS", details)
    if not torch_info.get("mps_available"):
        reason = f"torch.backends.mps.is_available() is False on macOS {macos} (MPS needs macOS 12.3 or later)"
        return BackendStatus("mps", False, reason, details)
    return BackendStatus("mps", True, details=details)


def _mlx(installed: Mapping[str, bool], mlx_info: Mapping[str, Any] | None) -> BackendStatus:
    if not installed.get("mlx", False):
        hint = "pip install mlx (macOS) or pip install 'mlx[cpu]' / 'mlx[cuda]' (Linux)"
        return BackendStatus("mlx", False, f"mlx is not installed ({hint})")
    details: dict[str, Any] = {"mlx_lm": bool(installed.get("mlx_lm", False))}
    if mlx_info is None:
        return BackendStatus("mlx", True, details={**details, "verified": False})
    if not mlx_info.get("importable", False):
        return BackendStatus("mlx", False, f"mlx does not import: {mlx_info.get('error', 'unknown error')}", details)
    for key in ("version", "default_device", "metal_available", "cuda_available", "metal"):
        if key in mlx_info:
            details[key] = mlx_info[key]
    return BackendStatus("mlx", True, details=details)
