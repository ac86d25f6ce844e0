"""The doctor as one core function: detect -> assess backends -> probe (or reuse cached verdicts) -> report."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qlora_check import __version__
from qlora_check.doctor import cache
from qlora_check.doctor.backends import assess_backends
from qlora_check.doctor.detect import detect_host, detect_libraries
from qlora_check.doctor.models import (
    PLAIN,
    SCHEMA_VERSION,
    BackendStatus,
    LibraryStatus,
    ProbeResult,
    ProbeSpec,
)
from qlora_check.doctor.probes import DEFAULT_TIMEOUT_S, plan_probes, run_probes
from qlora_check.doctor.runner import run_worker
from qlora_check.errors import QloraCheckError
from qlora_check.host import module_available, nvidia_gpus
from qlora_check.results.store import utc_now


@dataclass(frozen=True)
class DoctorOptions:
    probe: bool = True
    refresh: bool = False
    timeout_s: float = DEFAULT_TIMEOUT_S
    jobs: int = 1
    cache_dir: Path | None = None  # None: cache.cache_dir()
    env: dict[str, str] = field(default_factory=dict)  # added to the workers' environment


@dataclass(frozen=True)
class DoctorReport:
    host: dict[str, Any]
    libraries: list[LibraryStatus]
    backends: dict[str, BackendStatus]
    probes: list[ProbeResult]
    probe_source: str  # "fresh", "cache", "mixed" or "skipped"
    fingerprint: str
    cache_path: str
    devices: dict[str, Any] | None
    devices_error: str = ""
    created_at: str = field(default_factory=utc_now)

    def working_backends(self) -> list[str]:
        """Backends present whose plain probe passed (or, without a probe answer, that detection found)."""
        plain = {result.backend: result for result in self.probes if result.family == PLAIN}
        return [
            name
            for name, backend in self.backends.items()
            if backend.available and (name not in plain or plain[name].ok)
        ]

    @property
    def exit_code(self) -> int:
        return 0 if self.working_backends() else 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "qlora_check_version": __version__,
            "created_at": self.created_at,
            "fingerprint": self.fingerprint,
            "cache_path": self.cache_path,
            "host": self.host,
            "backends": {name: backend.to_dict() for name, backend in self.backends.items()},
            "devices_error": self.devices_error,
            "libraries": [library.to_dict() for library in self.libraries],
            "probes": {"source": self.probe_source, "results": [result.to_dict() for result in self.probes]},
            "working_backends": self.working_backends(),
            "ok": self.exit_code == 0,
        }


def run_doctor(options: DoctorOptions, on_probe: Callable[[ProbeResult], None] = lambda result: None) -> DoctorReport:
    if options.timeout_s <= 0:
        raise QloraCheckError(f"--timeout must be positive, not {options.timeout_s:g}")
    if options.refresh and not options.probe:
        raise QloraCheckError("--refresh re-runs the probes and --no-probe skips them: choose one")
    directory = options.cache_dir or cache.cache_dir()
    if directory.exists() and not directory.is_dir():
        raise QloraCheckError(
            f"the cache directory {directory} is not a directory", tip=f"pass --cache-dir DIR or set {cache.CACHE_ENV}"
        )
    gpus = nvidia_gpus()
    environment = cache.environment(gpus)
    fingerprint = cache.fingerprint_of(environment)
    entry = cache.load(directory, fingerprint) or cache.CacheEntry(fingerprint, environment)
    libraries = detect_libraries()
    installed = {library.module: module_available(library.module) for library in libraries}
    devices, devices_error = detect_devices(options.env, options.timeout_s)
    if devices is not None:
        entry.devices, entry.devices_at = devices, utc_now()
    backends = assess_backends(installed, devices, gpus)
    specs = plan_probes(backends, installed)
    probes, source = _probe(specs, entry, options, on_probe)
    path = cache.save(directory, entry)
    return DoctorReport(
        detect_host(), libraries, backends, probes, source, fingerprint, str(path), devices, devices_error
    )


def detect_devices(env: dict[str, str], timeout_s: float = DEFAULT_TIMEOUT_S) -> tuple[dict[str, Any] | None, str]:
    """What torch and mlx report, asked in a subprocess so this process never imports them."""
    outcome = run_worker({"mode": "devices"}, timeout_s, env)
    if outcome.result is not None:
        return outcome.result, ""
    if outcome.timed_out:
        return None, f"device detection did not finish within {timeout_s:g} s"
    return None, f"device detection exited with code {outcome.returncode}: {outcome.log_tail[-300:]}"


def _probe(
    specs: list[ProbeSpec],
    entry: cache.CacheEntry,
    options: DoctorOptions,
    on_probe: Callable[[ProbeResult], None],
) -> tuple[list[ProbeResult], str]:
    """Cached verdicts where they exist (unless refreshing), fresh probes for the rest; updates ``entry``."""
    cached = {} if options.refresh else dict(entry.probes)
    reused = sum(spec.key in cached for spec in specs)
    if not options.probe:
        return [cached[spec.key] for spec in specs if spec.key in cached], "cache" if reused else "skipped"
    to_run = [spec for spec in specs if spec.key not in cached]
    fresh = run_probes(to_run, options.timeout_s, options.jobs, options.env or None, on_probe)
    if options.refresh:
        entry.probes = {}
    entry.probes.update({result.key: result for result in fresh})
    results = [entry.probes[spec.key] for spec in specs]
    return results, "fresh" if not reused else ("cache" if not fresh else "mixed")
