"""What plan and run need to know about this host, from doctor's cheap detection and cached verdicts.

Never probes and never imports torch or mlx: a missing or stale cache only makes the answer coarser
(backends from platform facts and nvidia-smi; no probe verdicts).
"""

from __future__ import annotations

from pathlib import Path

from qlora_check.capabilities import HostCapabilities
from qlora_check.doctor import cache as doctor_cache
from qlora_check.doctor.backends import assess_backends
from qlora_check.host import module_available, nvidia_gpus
from qlora_check.libraries import tracked_libraries


def detect_host_capabilities(cache_dir: Path | None = None) -> HostCapabilities:
    modules = {library.module: module_available(library.module) for library in tracked_libraries()}
    gpus = nvidia_gpus()  # always, as doctor does: the cache key must not depend on torch being there
    fingerprint = doctor_cache.fingerprint_of(doctor_cache.environment(gpus))
    entry = doctor_cache.load(cache_dir or doctor_cache.cache_dir(), fingerprint)
    backends = assess_backends(modules, entry.devices if entry else None, gpus)
    notes = {"doctor_cache": f"doctor answer of {entry.devices_at or 'unknown time'}"} if entry else {}
    failures = {
        (result.backend, result.family): f"{result.reason} (doctor probe of {result.probed_at})"
        for result in (entry.probes.values() if entry else ())
        if result.is_verdict_against
    }
    cuda = backends["cuda"]
    return HostCapabilities(
        modules=modules,
        cuda_devices=len(cuda.details.get("devices") or cuda.details.get("gpus") or []) if cuda.available else 0,
        mps=backends["mps"].available,
        notes=notes,
        backend_reasons={name: backend.reason for name, backend in backends.items() if not backend.available},
        probe_failures=failures,
    )
