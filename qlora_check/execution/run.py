"""The run pipeline: load -> plan -> record n/a and skip -> run the rest isolated -> summarise.

One core function, `run_matrix`, that the CLI calls; progress goes out as events.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qlora_check import __version__
from qlora_check.capabilities import HostCapabilities
from qlora_check.errors import QloraCheckError
from qlora_check.execution.events import CellFinished, Notice, Observer, RunStarted, ignore
from qlora_check.execution.forkserver import choose_launcher, fallback_notice
from qlora_check.execution.isolation import CellJob
from qlora_check.execution.plan import RUN, PlannedCell, plan_matrix
from qlora_check.execution.scheduler import run_jobs
from qlora_check.execution.slots import previous_durations
from qlora_check.host import fingerprint
from qlora_check.matrix.loader import load_matrix
from qlora_check.results.models import CellResult, Status
from qlora_check.results.store import RunWriter, default_run_dir, point_latest, summarise, utc_now


@dataclass(frozen=True)
class RunOptions:
    """What `qlora-check run` was asked to do; None means "take the matrix's setting"."""

    matrix_path: Path
    out: Path | None = None
    root: Path = Path("reports")
    timeout: float | None = None
    jobs: int | None = None
    command: tuple[str, ...] = ()


@dataclass
class RunOutcome:
    run_dir: Path
    results: dict[str, CellResult]
    counts: dict[str, int]
    interrupted: bool = False
    warnings: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """130 interrupted, 1 when any cell failed, else 0 (pass, skip, n/a, xfail only)."""
        if self.interrupted:
            return 130
        return 1 if any(result.status.is_failure for result in self.results.values()) else 0


def default_jobs() -> int:
    """One single-threaded cell per core."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def run_matrix(options: RunOptions, observer: Observer = ignore) -> RunOutcome:
    matrix = load_matrix(options.matrix_path)
    planned = plan_matrix(matrix, HostCapabilities.detect())
    if not planned:
        raise QloraCheckError(f"{options.matrix_path}: the matrix expands to no cells")
    timeout = options.timeout if options.timeout is not None else matrix.settings.timeout
    slots = options.jobs or matrix.settings.jobs or default_jobs()
    host = fingerprint()
    run_dir = options.out or default_run_dir(options.root, host.hostname)
    if (run_dir / "run.json").exists():
        raise QloraCheckError(f"{run_dir} already holds a run", tip="choose another --out")
    writer = RunWriter(run_dir)
    writer.acquire()
    launcher = choose_launcher([entry.cell for entry in planned if entry.planned == RUN], writer.logs)
    history = previous_durations(options.root)
    results: dict[str, CellResult] = {}

    def record(result: CellResult) -> None:
        writer.append(result)
        results[result.cell_id] = result

    run_info: dict[str, Any] = {
        "run_id": run_dir.name,
        "qlora_check_version": __version__,
        "status": "running",
        "command": list(options.command) or sys.argv,
        "started_at": utc_now(),
        "ended_at": None,
        "matrix": {**matrix.to_dict(), "content": matrix.source},
        "settings": {"timeout_s": timeout, "jobs": slots, "isolation": launcher.isolation},
        "host": host.to_dict(),
        "planned": {"cells": len(planned), "run": sum(p.planned == RUN for p in planned)},
        "summary": {},
    }
    try:
        writer.write_run(run_info)
        observer(RunStarted(run_dir, planned, slots))
        for entry in planned:
            if entry.planned != RUN:
                result = _not_run_result(entry)
                record(result)
                observer(CellFinished(result))
        scratch = Path(tempfile.mkdtemp(prefix="qlora-check-"))
        try:
            jobs = [
                CellJob(
                    cell=entry.cell,
                    work_dir=scratch / entry.cell.id,
                    log_path=writer.log_path(entry.cell.id),
                    timeout_s=timeout,
                    learned_margin=matrix.settings.learned_margin,
                    max_memory_mb=matrix.settings.max_memory_mb,
                )
                for entry in planned
                if entry.planned == RUN
            ]
            interrupted = run_jobs(jobs, launcher, slots, record, observer, history)
        finally:
            getattr(launcher, "close", lambda: None)()
            shutil.rmtree(scratch, ignore_errors=True)
        run_info["settings"]["isolation"] = launcher.isolation  # a fork server may have fallen back
        if notice := fallback_notice(launcher):
            observer(Notice(notice))
        counts = summarise(results)
        run_info.update(status="interrupted" if interrupted else "finished", ended_at=utc_now(), summary=counts)
        writer.write_run(run_info)
        point_latest(options.root, run_dir)
    finally:
        writer.release()
    return RunOutcome(run_dir, results, counts, interrupted)


def _not_run_result(entry: PlannedCell) -> CellResult:
    status = Status.NOT_APPLICABLE if entry.planned == "n/a" else Status.SKIP
    now = utc_now()
    cell = entry.cell
    return CellResult(cell.id, cell.label, cell.values, status, entry.reason, started_at=now, ended_at=now)
