"""The doctor's cache: device details and probe verdicts, one file per environment fingerprint.

The fingerprint covers what can change a verdict (library versions, Python, OS, CPU, GPUs and their
driver, visible devices, the probes' own version) and is computed cheaply, so `plan` and `run` can look
a verdict up without importing torch. A changed environment simply misses the cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qlora_check import __version__
from qlora_check.doctor.detect import cpu_flags
from qlora_check.doctor.models import PROBE_VERSION, SCHEMA_VERSION, ProbeResult
from qlora_check.errors import QloraCheckError
from qlora_check.fileio import CACHE_ENV as CACHE_ENV  # re-exported: doctor's callers name them here
from qlora_check.fileio import cache_dir as cache_dir
from qlora_check.fileio import write_atomically
from qlora_check.host import cpu_model, library_versions


def environment(gpus: list[dict[str, str]]) -> dict[str, Any]:
    """What a probe verdict depends on; ``gpus`` is nvidia-smi's list."""
    return {
        "probe_version": PROBE_VERSION,
        "qlora_check": __version__,
        "python": sys.executable,
        "python_version": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
        "machine": platform.machine(),
        "cpu": cpu_model(),
        "cpu_flags": sorted(flag for flag, present in cpu_flags().items() if present),
        "libraries": library_versions(),
        "gpus": [{k: gpu.get(k) for k in ("name", "memory", "driver", "compute_capability")} for gpu in gpus],
        "visible_devices": {k: os.environ.get(k) for k in ("CUDA_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES")},
        "pythonpath": os.environ.get("PYTHONPATH"),  # probes and cells inherit it: it can change what imports
    }


def fingerprint_of(env: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(env, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class CacheEntry:
    fingerprint: str
    environment: dict[str, Any]
    devices: dict[str, Any] | None = None
    devices_at: str = ""
    probes: dict[str, ProbeResult] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "fingerprint": self.fingerprint,
            "environment": self.environment,
            "devices": self.devices,
            "devices_at": self.devices_at,
            "probes": {key: {**result.to_dict(), "cached": False} for key, result in self.probes.items()},
        }


def cache_path(directory: Path, fingerprint: str) -> Path:
    return directory / f"doctor-{fingerprint}.json"


def load(directory: Path, fingerprint: str) -> CacheEntry | None:
    """The entry for ``fingerprint``; None when absent, unreadable or written by a newer qlora-check."""
    try:
        data = json.loads(cache_path(directory, fingerprint).read_text(encoding="utf-8"))
        if data.get("schema_version") != SCHEMA_VERSION or data.get("fingerprint") != fingerprint:
            return None
        probes = {
            key: ProbeResult.from_dict({**value, "cached": True}) for key, value in (data.get("probes") or {}).items()
        }
        return CacheEntry(fingerprint, data["environment"], data.get("devices"), data.get("devices_at", ""), probes)
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None


def save(directory: Path, entry: CacheEntry) -> Path:
    """Write ``entry`` atomically (a reader never sees half a file)."""
    path = cache_path(directory, entry.fingerprint)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        write_atomically(path, json.dumps(entry.to_dict(), indent=2))
    except OSError as exc:
        raise QloraCheckError(
            f"cannot write the doctor cache in {directory}: {exc.strerror or exc}",
            tip=f"point {CACHE_ENV} at a writable directory",
        ) from None
    return path
