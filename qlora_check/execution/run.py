"""The run pipeline: load -> plan -> record n/a and skip -> run the rest isolated -> retry -> summarise.

One core function, `run_matrix`, that the CLI calls; progress goes out as events. `--resume` reuses
the same pipeline on an existing run directory, running only cells without a final result.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from qlora_check import __version__
from qlora_check.capabilities import HostCapabilities
from qlora_check.errors import QloraCheckError
from qlora_check.events import CellFinished, Notice, Observer, RunStarted, ignore
from qlora_check.execution.expectations import apply_expectations
from qlora_check.execution.job import CellJob
from qlora_check.execution.launchers.forkserver import choose_launcher, fallback_notice
from qlora_check.execution.launchers.interface import Launcher
from qlora_check.execution.ordering import previous_durations
from qlora_check.execution.plan import RUN, PlanKind, PlannedCell, plan_matrix
from qlora_check.execution.resources import demand_for
from qlora_check.execution.scheduler import run_jobs
from qlora_check.host import fingerprint, library_versions
from qlora_check.known_issues import KnownIssue, active_issues, apply_known_issues, load_known_issues
from qlora_check.matrix.loader import load_matrix, parse_matrix
from qlora_check.matrix.model import ExpectRule, Matrix
from qlora_check.results.models import CellResult, Status
from qlora_check.results.store import (
    LATEST,
    RunWriter,
    default_run_dir,
    point_latest,
    read_results,
    read_run,
    summarise,
    utc_now,
)

RETRYABLE = frozenset({Status.CRASH, Status.TIMEOUT, Status.OOM})


@dataclass(frozen=True)
class RunOptions:
    """What `qlora-check run` was asked to do; None means "take the matrix's setting"."""

    matrix_path: Path | None = None
    out: Path | None = None
    root: Path = Path("reports")
    timeout: float | None = None
    jobs: int | None = None
    retries: int | None = None
    max_memory_mb: int | None = None
    resume: Path | None = None
    shard: tuple[int, int] | None = None
    compare_to: str | None = None  # "latest" or a run directory
    command: tuple[str, ...] = ()


@dataclass
class RunOutcome:
    """A run as it ended; ``baseline`` is the run to compare it with (resolved before `latest` moved)."""

    run_dir: Path
    results: dict[str, CellResult]
    counts: dict[str, int]
    interrupted: bool = False
    warnings: list[str] = field(default_factory=list)
    baseline: Path | None = None

    @property
    def exit_code(self) -> int:
        """130 interrupted, 1 when any cell failed, else 0 (pass, skip, n/a, xfail only)."""
        if self.interrupted:
            return 130
        return 1 if any(result.fails_run for result in self.results.values()) else 0


def default_jobs() -> int:
    """One single-threaded cell per core."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


@dataclass
class _Recorder:
    """Appends each result as it ends; turns disagreeing attempts of one cell into `flaky`."""

    writer: RunWriter
    observer: Observer
    expectations: list[ExpectRule] = field(default_factory=list)
    known_issues: list[KnownIssue] = field(default_factory=list)
    results: dict[str, CellResult] = field(default_factory=dict)
    history: dict[str, list[CellResult]] = field(default_factory=dict)
    raw_status: dict[str, Status] = field(default_factory=dict)  # how the latest attempt itself ended

    def __call__(self, result: CellResult) -> None:
        self.raw_status[result.cell_id] = result.status
        # The matrix's own expect rules first; the shipped known issues judge only what they left alone.
        result = apply_known_issues(apply_expectations(result, self.expectations), self.known_issues)
        earlier = self.history.setdefault(result.cell_id, [])
        if earlier:
            result = _with_attempts(result, earlier)
        earlier.append(result)
        self.writer.append(result)
        self.results[result.cell_id] = result
        self.observer(CellFinished(result))


def _with_attempts(result: CellResult, earlier: list[CellResult]) -> CellResult:
    attempts = [{"attempt": r.attempt, "status": r.status.value, "reason": r.reason} for r in earlier]
    statuses = {r.status for r in earlier} | {result.status}
    if len(statuses) == 1:
        return replace(result, attempts=attempts)
    story = "; ".join(f"attempt {a['attempt']}: {a['status']}" for a in attempts)
    reason = f"attempts disagree ({story}; attempt {result.attempt}: {result.status.value} {result.reason})"
    return replace(result, status=Status.FLAKY, reason=reason.strip(), attempts=attempts)


def run_matrix(options: RunOptions, observer: Observer = ignore, *, host: HostCapabilities) -> RunOutcome:
    """Run a matrix (or resume a run) on a host that has ``host`` and return its outcome (its reports are the
    caller's next step: `reports.finish.finish_run`); raises QloraCheckError for bad input."""
    if options.resume is not None:
        run_dir = options.resume
        previous = read_run(run_dir)
        matrix = parse_matrix(previous["matrix"]["content"], source_name=f"{run_dir}/run.json")
        read = read_results(run_dir)
        for warning in read.warnings:
            observer(Notice(warning))
        done = {cell_id: r for cell_id, r in read.final().items() if r.status.is_final}
    else:
        if options.matrix_path is None:
            raise QloraCheckError("no matrix given", tip="qlora-check run MATRIX, or --resume RUN_DIR")
        matrix = load_matrix(options.matrix_path)
        previous, done = {}, {}
        run_dir = options.out or default_run_dir(options.root, fingerprint().hostname)
        if (run_dir / "run.json").exists():
            raise QloraCheckError(f"{run_dir} already holds a run", tip=f"--resume {run_dir}, or another --out")
    baseline = _baseline(options, observer)
    shard = options.shard or _stored_shard(previous)
    planned = plan_matrix(matrix, host, shard)
    if not planned:
        raise QloraCheckError("the matrix expands to no cells" + (f" in shard {shard[0]}/{shard[1]}" if shard else ""))
    return _execute(options, matrix, planned, run_dir, previous, done, baseline, observer, host.cuda_devices)


def _baseline(options: RunOptions, observer: Observer) -> Path | None:
    """The run to compare with, resolved before this run moves `latest`."""
    if options.compare_to is None:
        return None
    if options.compare_to == "latest":
        latest = options.root / LATEST
        if not latest.exists():
            observer(Notice(f"no previous run at {latest}: nothing to compare with"))
            return None
        return latest.resolve()
    baseline = Path(options.compare_to)
    read_run(baseline)  # a clear error now rather than after the run
    return baseline.resolve()


def _stored_shard(run: dict[str, Any]) -> tuple[int, int] | None:
    shard = run.get("shard")
    return (int(shard["index"]), int(shard["count"])) if shard else None


def _execute(
    options: RunOptions,
    matrix: Matrix,
    planned: list[PlannedCell],
    run_dir: Path,
    previous: dict[str, Any],
    done: dict[str, CellResult],
    baseline: Path | None,
    observer: Observer,
    cuda_devices: int,
) -> RunOutcome:
    settings = matrix.settings
    timeout = options.timeout if options.timeout is not None else settings.timeout
    slots = options.jobs or settings.jobs or default_jobs()
    retries = options.retries if options.retries is not None else settings.retries
    max_memory_mb = options.max_memory_mb or settings.max_memory_mb
    writer = RunWriter(run_dir)
    writer.acquire()
    launcher = choose_launcher([entry.cell for entry in planned if entry.planned == RUN], writer.logs)
    history = previous_durations(options.root)
    known = active_issues(load_known_issues(), library_versions())
    recorder = _Recorder(writer, observer, matrix.expect, known, results=dict(done))
    run_info = _run_document(options, matrix, planned, run_dir, previous, launcher, timeout, slots, retries)
    try:
        writer.write_run(run_info)
        observer(RunStarted(run_dir, sum(p.cell.id not in done for p in planned), slots))
        todo = [entry for entry in planned if entry.cell.id not in done]
        for entry in todo:
            if entry.planned != RUN:
                recorder(_not_run_result(entry))
        scratch = Path(tempfile.mkdtemp(prefix="qlora-check-"))
        try:
            jobs = [
                CellJob(
                    cell=entry.cell,
                    work_dir=scratch / entry.cell.id,
                    log_path=writer.log_path(entry.cell.id),
                    timeout_s=timeout,
                    demand=demand_for(entry.cell),
                    learned_margin=settings.learned_margin,
                    max_memory_mb=max_memory_mb,
                    log_max_bytes=settings.log_max_bytes,
                )
                for entry in todo
                if entry.planned == RUN
            ]
            interrupted = _run_with_retries(
                jobs, launcher, slots, retries, recorder, writer, observer, history, cuda_devices
            )
        finally:
            launcher.close()
            shutil.rmtree(scratch, ignore_errors=True)
        if not previous:  # a fork server may have fallen back to spawning
            run_info["settings"]["isolation"] = launcher.isolation
        if notice := fallback_notice(launcher):
            observer(Notice(notice))
        counts = summarise(recorder.results)
        run_info.update(status="interrupted" if interrupted else "finished", ended_at=utc_now(), summary=counts)
        writer.write_run(run_info)
        point_latest(options.root, run_dir)
    finally:
        writer.release()
    return RunOutcome(run_dir, recorder.results, counts, interrupted, baseline=baseline)


def _run_with_retries(
    jobs: list[CellJob],
    launcher: Launcher,
    slots: int,
    retries: int,
    recorder: _Recorder,
    writer: RunWriter,
    observer: Observer,
    history: dict[str, float],
    cuda_devices: int,
) -> bool:
    """Run the jobs; re-run those that crashed, timed out or ran out of memory, up to ``retries`` times."""
    interrupted = run_jobs(jobs, launcher, slots, recorder, observer, history, cuda_devices=cuda_devices)
    for attempt in range(2, retries + 2):
        if interrupted:
            break
        again = [
            replace(job, attempt=attempt, log_path=writer.log_path(job.cell.id, attempt))
            for job in jobs
            if recorder.raw_status[job.cell.id] in RETRYABLE
        ]
        if not again:
            break
        observer(
            Notice(f"retrying {len(again)} cell(s) that crashed, timed out or ran out of memory (attempt {attempt})")
        )
        jobs = again
        interrupted = run_jobs(again, launcher, slots, recorder, observer, history, cuda_devices=cuda_devices)
    return interrupted


def _run_document(
    options: RunOptions,
    matrix: Matrix,
    planned: list[PlannedCell],
    run_dir: Path,
    previous: dict[str, Any],
    launcher: Launcher,
    timeout: float,
    slots: int,
    retries: int,
) -> dict[str, Any]:
    now = utc_now()
    if previous:
        document = {key: value for key, value in previous.items() if key != "schema_version"}
        document.update(status="running", ended_at=None, resumes=[*previous.get("resumes", []), now])
        return document
    return {
        "run_id": run_dir.name,
        "qlora_check_version": __version__,
        "status": "running",
        "command": list(options.command),
        "started_at": now,
        "ended_at": None,
        "resumes": [],
        "matrix": {**matrix.to_dict(), "content": matrix.source},
        "settings": {"timeout_s": timeout, "jobs": slots, "retries": retries, "isolation": launcher.isolation},
        "host": fingerprint().to_dict(),
        "planned": {"cells": len(planned), "run": sum(p.planned == RUN for p in planned)},
        "shard": {"index": options.shard[0], "count": options.shard[1]} if options.shard else None,
        "summary": {},
    }


def _not_run_result(entry: PlannedCell) -> CellResult:
    status = Status.NOT_APPLICABLE if entry.planned is PlanKind.NOT_APPLICABLE else Status.SKIP
    now = utc_now()
    cell = entry.cell
    return CellResult(cell.id, cell.label, cell.values, status, entry.reason, started_at=now, ended_at=now)
