"""Cheap detection in this process: OS, Python, CPU (model, cores, ISA flags, RAM) and libraries.

Nothing here imports torch or mlx; device details come from `devices.py` in a subprocess.
"""

from __future__ import annotations

import os
import platform
import sys
from typing import Any

import psutil

from qlora_check.doctor.models import LibraryStatus
from qlora_check.host import cpu_model, library_versions
from qlora_check.libraries import tracked_libraries

# Instruction-set flags that decide which CPU kernels torch and the quantizer libraries can use.
CPU_FLAGS = (
    "sse4_2",
    "fma",
    "f16c",
    "avx",
    "avx2",
    "avx_vnni",
    "avx512f",
    "avx512bw",
    "avx512vl",
    "avx512_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "amx_tile",
    "amx_bf16",
    "amx_int8",
    "asimd",
    "sve",
)

# (distribution, importable module, install hint) for every library whose combinations qlora-check tests.
LIBRARIES = tuple((library.distribution, library.module, library.hint) for library in tracked_libraries())


def cpu_flags(cpuinfo_path: str = "/proc/cpuinfo") -> dict[str, bool]:
    """Which of CPU_FLAGS the first CPU reports (all False where the OS has no /proc/cpuinfo)."""
    reported: set[str] = set()
    try:
        with open(cpuinfo_path, encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith(("flags", "Features")):
                    reported = set(line.split(":", 1)[1].split())
                    break
    except OSError:
        pass
    return {flag: flag in reported for flag in CPU_FLAGS}


def usable_cores() -> int:
    """Cores this process may run on (affinity and cgroup-pinned containers see fewer than the host has)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def detect_host() -> dict[str, Any]:
    """OS, Python and CPU facts, all from the standard library, psutil and /proc."""
    memory = psutil.virtual_memory()
    return {
        "os": {
            "system": platform.system(),
            "release": platform.release(),
            "version": platform.version(),
            "machine": platform.machine(),
            "macos": platform.mac_ver()[0] or None,
        },
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
            "executable": sys.executable,
        },
        "cpu": {
            "model": cpu_model(),
            "arch": platform.machine(),
            "physical_cores": psutil.cpu_count(logical=False),
            "logical_cores": psutil.cpu_count(logical=True),
            "usable_cores": usable_cores(),
            "flags": cpu_flags(),
            "ram_gb": round(memory.total / 2**30, 1),
            "available_ram_gb": round(memory.available / 2**30, 1),
        },
    }


def detect_libraries(table: tuple[tuple[str, str, str], ...] = LIBRARIES) -> list[LibraryStatus]:
    """Installed versions (from package metadata, nothing imported) with an install hint for each."""
    versions = library_versions()
    statuses = []
    for distribution, module, hint in table:
        version = versions[distribution] if distribution in versions else _version(distribution)
        statuses.append(LibraryStatus(distribution, module, version, hint))
    return statuses


def _version(distribution: str) -> str | None:
    import importlib.metadata

    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None
