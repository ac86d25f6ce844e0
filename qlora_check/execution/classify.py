"""The one interpretation of how a child ended: a raw outcome -> a status (`outcome_status`), and for a
cell, the `CellResult` that records it. Doctor probes use `outcome_status` too, with their own words."""

from __future__ import annotations

import traceback
from typing import Any

from qlora_check.distributed.failure import RankFailure
from qlora_check.execution.job import CellJob
from qlora_check.execution.launchers.process import signal_name
from qlora_check.execution.launchers.types import RawOutcome
from qlora_check.execution.limits import out_of_memory_error
from qlora_check.results.models import CellResult, ErrorInfo, Status
from qlora_check.results.store import utc_now


def outcome_status(raw: RawOutcome) -> Status | None:
    """None when the child's own answer stands; else what ended it: interrupted, timeout, oom, crash, error."""
    if raw.result is not None and not raw.timed_out:
        return None
    if raw.cancelled:
        return Status.INTERRUPTED
    if raw.timed_out:
        return Status.TIMEOUT
    if raw.oom_killed:
        return Status.OOM
    if raw.returncode is not None and raw.returncode < 0:
        return Status.CRASH
    return Status.ERROR


def rank_status(failure: RankFailure) -> Status:
    """A multi-rank cell's status from the rank that failed first, by the same rules as a cell's process."""
    raw = RawOutcome(failure.returncode, failure.timed_out, False, False, None, failure.log_tail, "", 0.0)
    status = outcome_status(raw) or Status.ERROR
    if status is Status.ERROR and out_of_memory_error(failure.error_type, failure.message):
        return Status.OOM
    return status


def cell_result(job: CellJob, raw: RawOutcome) -> CellResult:
    """The cell's result: its worker's own result file when it wrote one, else the fault that ended it."""
    status = outcome_status(raw)
    if status is None and raw.result is not None:
        result = CellResult.from_dict({**raw.result, "log_path": str(job.log_path), "attempt": job.attempt})
        timings = {**result.timings, "wall_s": raw.duration_s}
        return CellResult.from_dict({**result.to_dict(), "timings": timings})
    timings = {"wall_s": raw.duration_s}
    if status is Status.INTERRUPTED:
        return CellResult(
            **_common(job, raw.started_at), status=status, reason="the run was interrupted", timings=timings
        )
    error_type, reason = _fault(job, raw, status)
    return CellResult(
        **_common(job, raw.started_at),
        status=status or Status.ERROR,
        reason=reason,
        error=ErrorInfo(error_type, reason, raw.log_tail),
        timings=timings,
    )


def _fault(job: CellJob, raw: RawOutcome, status: Status | None) -> tuple[str, str]:
    """The error type and the one-line reason of a child that ended without its own answer."""
    if status is Status.TIMEOUT:
        return "Timeout", f"exceeded the {job.timeout_s:g} s timeout; the process group was killed"
    if status is Status.OOM:
        return "SIGKILL", "killed by SIGKILL while the kernel's OOM killer struck (out of memory)"
    if status is Status.CRASH and raw.returncode is not None:
        name = signal_name(-raw.returncode)
        return name, f"killed by {name}"
    return "WorkerExit", f"the worker exited with code {raw.returncode} without writing a result"


def launcher_failure(job: CellJob, exc: Exception) -> CellResult:
    """A launcher that raised: that cell's `error`, with the launcher's own exception."""
    reason = f"the launcher failed: {type(exc).__name__}: {exc}"[:500]
    tail = "".join(traceback.format_exception(exc))[-4000:]
    error = ErrorInfo(f"{type(exc).__module__}.{type(exc).__qualname__}", str(exc), tail)
    return CellResult(**_common(job, utc_now()), status=Status.ERROR, reason=reason, error=error)


def _common(job: CellJob, started_at: str) -> dict[str, Any]:
    return {
        "cell_id": job.cell.id,
        "label": job.cell.label,
        "values": job.cell.values,
        "log_path": str(job.log_path),
        "attempt": job.attempt,
        "started_at": started_at,
        "ended_at": utc_now(),
    }
