"""Which probes to run (backend present x quantizer family installed) and running them as subprocesses."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from qlora_check.doctor.models import (
    BackendStatus,
    ProbeResult,
    ProbeSpec,
    ProbeStatus,
    families_for,
    family_library,
    family_variant,
)
from qlora_check.doctor.runner import run_worker
from qlora_check.engines import engine_for_backend
from qlora_check.execution.classify import outcome_status
from qlora_check.execution.launchers.process import signal_name
from qlora_check.results.models import Status
from qlora_check.results.store import utc_now

DEFAULT_TIMEOUT_S = 180.0  # a cold first import of torch + a quantizer took 80 s on a loaded 2-core box


def plan_probes(backends: Mapping[str, BackendStatus], installed: Mapping[str, bool]) -> list[ProbeSpec]:
    """One probe per present backend and installed family (``installed``: module name -> importable)."""
    specs = []
    for name, backend in backends.items():
        if not backend.available:
            continue
        for family in families_for(engine_for_backend(name).name):
            library = family_library(family)
            if library is None or installed.get(library[0], False):
                specs.append(ProbeSpec(name, family))
    return specs


def run_probe(spec: ProbeSpec, timeout_s: float, env: dict[str, str] | None = None) -> ProbeResult:
    """Run one probe in its own interpreter and turn however it ended into a result."""
    started_at = utc_now()
    outcome = run_worker({"mode": "probe", "backend": spec.backend, "family": spec.family}, timeout_s, env)
    common: dict[str, Any] = {
        "backend": spec.backend,
        "family": spec.family,
        "variant": family_variant(spec.family),
        "duration_s": round(outcome.duration_s, 2),
        "probed_at": started_at,
    }
    status = outcome_status(outcome)
    if status is None and outcome.result is not None:
        return ProbeResult.from_dict({**outcome.result, **common})
    if status is Status.TIMEOUT:
        reason = f"the probe did not finish within {timeout_s:g} s and was killed"
        return ProbeResult(**common, status=ProbeStatus.TIMEOUT, reason=reason, error_type="Timeout")
    if status in (Status.CRASH, Status.OOM) and outcome.returncode is not None:
        name = signal_name(-outcome.returncode)
        reason = f"the probe process was killed by {name}: {_last_line(outcome.log_tail)}".rstrip(": ")
        return ProbeResult(**common, status=ProbeStatus.CRASH, reason=reason, error_type=name)
    reason = f"the probe exited with code {outcome.returncode} without an answer: {_last_line(outcome.log_tail)}"
    return ProbeResult(**common, status=ProbeStatus.ERROR, reason=reason.rstrip(": "), error_type="WorkerExit")


def run_probes(
    specs: Iterable[ProbeSpec],
    timeout_s: float = DEFAULT_TIMEOUT_S,
    jobs: int = 1,
    env: dict[str, str] | None = None,
    on_result: Callable[[ProbeResult], None] = lambda result: None,
) -> list[ProbeResult]:
    """Run ``specs`` with at most ``jobs`` at once (each probe is single-threaded), in ``specs`` order."""
    specs = list(specs)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = [pool.submit(run_probe, spec, timeout_s, env) for spec in specs]
        results = []
        for future in futures:
            results.append(future.result())
            on_result(results[-1])
    return results


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""
