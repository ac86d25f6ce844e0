"""What this host is and has, detected cheaply (no heavy imports): the fingerprint in run.json."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import platform
import shutil
import socket
import subprocess
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any

import psutil

# The variables every numeric library reads for its compute-thread count; a child gets them set before import.
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)


def library_versions() -> dict[str, str | None]:
    """Installed versions of the libraries whose combinations qlora-check tests (None = missing)."""
    from qlora_check.libraries import tracked_distributions

    versions: dict[str, str | None] = {}
    for name in tracked_distributions():
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def module_available(module: str) -> bool:
    """Whether ``module`` can be imported, without importing it."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def cpu_model() -> str:
    """The CPU's marketing name where the OS tells it, else the architecture."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def nvidia_gpus() -> list[dict[str, str]]:
    """GPUs as nvidia-smi lists them (empty when there is no NVIDIA driver)."""
    executable = shutil.which("nvidia-smi")
    if executable is None:
        return []
    query = "--query-gpu=index,name,memory.total,driver_version,compute_cap"
    try:
        completed = subprocess.run(
            [executable, query, "--format=csv,noheader"], capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    gpus = []
    for line in completed.stdout.splitlines():
        parts = [part.strip() for part in line.split(",")]
        if len(parts) == 5:
            keys = ("index", "name", "memory", "driver", "compute_capability")
            gpus.append(dict(zip(keys, parts, strict=True)))
    return gpus


@dataclass(frozen=True)
class HostFingerprint:
    """Enough about the host to tell two runs' environments apart."""

    hostname: str
    os: str
    machine: str
    cpu: str
    cores: int
    ram_gb: float
    python: str
    libraries: dict[str, str | None]
    gpus: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@lru_cache(maxsize=1)
def fingerprint() -> HostFingerprint:
    return HostFingerprint(
        hostname=socket.gethostname(),
        os=f"{platform.system()} {platform.release()}",
        machine=platform.machine(),
        cpu=cpu_model(),
        cores=os.cpu_count() or 1,
        ram_gb=round(psutil.virtual_memory().total / 2**30, 1),
        python=platform.python_version(),
        libraries=library_versions(),
        gpus=nvidia_gpus(),
    )
