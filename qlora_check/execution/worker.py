"""The worker: runs one cell inside its own process and writes the result to the path it was given.

Protocol (asv/pyperf style): the parent writes a job spec (`execution.job.JobSpec`) and starts
``python -m qlora_check.execution.worker SPEC``; the worker writes ``result_path`` atomically and never
uses stdout for results, so stray prints from libraries cannot corrupt them (stdout and stderr go to the
cell's log file).
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any

TRACEBACK_TAIL_LINES = 40


def _now() -> str:
    from qlora_check.results.store import utc_now

    return utc_now()


def run_spec(spec: Any) -> dict[str, Any]:
    """Run the cell a `JobSpec` describes; return its result as a dict (never raises for cell faults)."""
    from qlora_check.distributed.failure import RankFailure
    from qlora_check.engines import CellContext
    from qlora_check.execution.classify import rank_status
    from qlora_check.execution.faults import inject
    from qlora_check.execution.limits import apply_memory_cap, is_out_of_memory
    from qlora_check.matrix.cell import Cell
    from qlora_check.matrix.defaults import resolve_defaults
    from qlora_check.results.models import CellResult, CheckResult, ErrorInfo, Status
    from qlora_check.runners import RUNNERS, CellFailed

    cell = Cell.from_values(spec.values)
    started_at, started = _now(), time.perf_counter()
    base: dict[str, Any] = {"cell_id": cell.id, "label": cell.label, "values": cell.values, "started_at": started_at}
    # The runner gets the cell with its defaults resolved (`lr: auto` -> a number); the result keeps the cell's
    # own values and id, and records what the defaults resolved to (compare reads it).
    resolved_values, defaults = resolve_defaults(cell.values)
    resolved = Cell.from_values(resolved_values)
    try:
        if cell.typed.distributed == "none":  # a multi-rank cell injects its fault in one rank (inject_rank)
            inject(cell.typed.inject, spec.attempt)
        runner = RUNNERS.get(spec.runner)
        if spec.max_memory_mb:
            apply_memory_cap(int(spec.max_memory_mb))
        work_dir = Path(spec.work_dir)
        work_dir.mkdir(parents=True, exist_ok=True)
        context = CellContext(
            work_dir=work_dir,
            learned_margin=spec.learned_margin,
            max_memory_mb=spec.max_memory_mb,
            timeout_s=spec.timeout_s,
            attempt=spec.attempt,
            fault=inject,
            threads=spec.threads,
            runner=spec.runner_definition,
        )
        output = runner.load()(resolved, context)
    except RankFailure as failure:
        traceback.print_exc()
        result = CellResult(
            **base,
            status=rank_status(failure),
            reason=failure.reason,
            error=ErrorInfo(failure.error_type, failure.message, failure.traceback),
            timings={"total_s": time.perf_counter() - started},
            engine={"distributed": failure.launch},
            ended_at=_now(),
        )
        return result.to_dict()
    except CellFailed as verdict:  # a runner's own verdict (a command runner's trainer did not end well)
        result = CellResult(
            **base,
            status=Status(verdict.status),
            reason=verdict.reason[:500],
            error=ErrorInfo(f"trainer {verdict.status}", verdict.reason, verdict.log_tail),
            timings={"total_s": time.perf_counter() - started},
            engine=verdict.info,
            ended_at=_now(),
        )
        return result.to_dict()
    except BaseException as exc:  # the worker's job is to record every failure, whatever its class
        status = Status.OOM if is_out_of_memory(exc) else Status.ERROR
        tail = "".join(traceback.format_exception(exc)).splitlines()[-TRACEBACK_TAIL_LINES:]
        error = ErrorInfo(f"{type(exc).__module__}.{type(exc).__qualname__}", str(exc), "\n".join(tail))
        traceback.print_exc()
        result = CellResult(
            **base,
            status=status,
            reason=f"{type(exc).__name__}: {exc}"[:500],
            error=error,
            timings={"total_s": time.perf_counter() - started},
            engine={"defaults": defaults},
            ended_at=_now(),
        )
        return result.to_dict()
    failed: list[CheckResult] = [check for check in output.checks if not check.passed]
    result = CellResult(
        **base,
        status=Status.FAIL if failed else Status.PASS,
        reason="; ".join(f"{check.name}: {check.detail}" for check in failed),
        checks=output.checks,
        losses=output.losses,
        lrs=output.lrs,
        memory=output.memory,
        timings={**output.timings, "total_s": time.perf_counter() - started},
        tokens_per_s=output.tokens_per_s,
        engine={**output.info, "defaults": defaults},
        ended_at=_now(),
    )
    return result.to_dict()


def main(argv: list[str]) -> int:
    from qlora_check.execution.job import read_job_spec
    from qlora_check.fileio import write_atomically

    spec = read_job_spec(Path(argv[0]))
    result = run_spec(spec)
    write_atomically(Path(spec.result_path), json.dumps(result, allow_nan=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
