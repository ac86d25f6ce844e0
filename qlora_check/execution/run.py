"""The run pipeline: load -> plan -> record n/a and skip -> run the rest isolated -> retry -> summarise.

One core function, `run_matrix`, that the CLI calls; progress goes out as events. `--resume` reuses
the same pipeline on an existing run directory, running only cells without a final result.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from qlora_check import __version__
from qlora_check.capabilities import HostCapabilities
from qlora_check.errors import QloraCheckError
from qlora_check.events import CellFinished, Notice, Observer, RunStarted, ignore
from qlora_check.execution.executor import Executor
from qlora_check.execution.expectations import apply_expectations
from qlora_check.execution.job import CellJob
from qlora_check.execution.launchers.forkserver import choose_launcher, early_launcher, fallback_notice, spawn_reason
from qlora_check.execution.launchers.interface import Launcher
from qlora_check.execution.launchers.spawn import SpawnLauncher
from qlora_check.execution.ordering import previous_durations
from qlora_check.execution.plan import RUN, Plan, PlanKind, PlannedCell, build_plan
from qlora_check.execution.resources import demand_for
from qlora_check.execution.scheduler import run_jobs
from qlora_check.host import fingerprint, library_versions
from qlora_check.known_issues import KnownIssue, active_issues, apply_known_issues, load_known_issues
from qlora_check.matrix.axes import AXES
from qlora_check.matrix.cell import Cell
from qlora_check.matrix.loader import load_matrix, parse_matrix
from qlora_check.matrix.model import ExpectRule, Matrix
from qlora_check.matrix.runners import BUILTIN, without_env_values
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
RUNNER_GRACE_S = 60.0


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
    cells: tuple[str, ...] | None = None  # only these cell ids (a GitHub Actions shard: plan --emit github)
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
            result = with_attempts(result, earlier)
        earlier.append(result)
        self.writer.append(result)
        self.results[result.cell_id] = result
        self.observer(CellFinished(result))


def with_attempts(result: CellResult, earlier: list[CellResult]) -> CellResult:
    """The result with the earlier attempts listed; `flaky` when they disagree (also used by the pytest plugin)."""
    attempts = [{"attempt": r.attempt, "status": r.status.value, "reason": r.reason} for r in earlier]
    statuses = {r.status for r in earlier} | {result.status}
    if len(statuses) == 1:
        return replace(result, attempts=attempts)
    story = "; ".join(f"attempt {a['attempt']}: {a['status']}" for a in attempts)
    reason = f"attempts disagree ({story}; attempt {result.attempt}: {result.status.value} {result.reason})"
    return replace(result, status=Status.FLAKY, reason=reason.strip(), attempts=attempts)


def run_matrix(
    options: RunOptions, observer: Observer = ignore, *, host: HostCapabilities, executor: Executor | None = None
) -> RunOutcome:
    """Run a matrix (or resume a run) on a host that has ``host`` and return its outcome (its reports are the
    caller's next step: `reports.finish.finish_run`); raises QloraCheckError for bad input.

    With an ``executor`` (a Ray pool), its resources alone decide which cells can run, and it runs them."""
    if options.resume is not None:
        run_dir = options.resume
        previous = read_run(run_dir)
        matrix = _with_env_values(
            parse_matrix(previous["matrix"]["content"], source_name=f"{run_dir}/run.json"), previous["matrix"]
        )
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
    fresh_dir = not run_dir.exists()
    early = None if executor else early_launcher(_may_run(matrix), RunWriter(run_dir).logs)
    try:
        plan = build_plan(matrix, None if executor else host, shard)
        planned = plan.cells
        if options.cells is not None:
            planned = _only_cells(planned, options.cells)
        if not planned:
            raise QloraCheckError(
                "the matrix expands to no cells" + (f" in shard {shard[0]}/{shard[1]}" if shard else "")
            )
        if executor is not None:
            planned = _executor_skips(planned, executor)
    except BaseException:
        if early is not None:
            early.close()
            if fresh_dir and not (run_dir / "run.json").exists():  # only its log was written: leave no trace
                shutil.rmtree(run_dir, ignore_errors=True)
        raise
    plan = replace(plan, cells=planned)
    return _execute(
        options, matrix, plan, run_dir, previous, done, baseline, observer, host.cuda_devices, executor, early
    )


def _may_run(matrix: Matrix) -> list[Cell]:
    """A cell for each backend x quantizer x optimizer value the matrix names (axes and include entries): a
    superset of what its runnable cells need preloaded, known before the plan is built."""

    def values(name: str) -> list[Any]:
        named = list(matrix.axes.get(name, [AXES[name].default]))
        return named + [entry[name] for entry in matrix.include if name in entry and entry[name] not in named]

    return [
        Cell.from_values({"backend": backend, "quantizer": quantizer, "optimizer": optimizer})
        for backend, quantizer, optimizer in itertools.product(
            values("backend"), values("quantizer"), values("optimizer")
        )
    ]


def _only_cells(planned: list[PlannedCell], cells: tuple[str, ...]) -> list[PlannedCell]:
    unknown = sorted(set(cells) - {entry.cell.id for entry in planned})
    if unknown:
        raise QloraCheckError(
            f"--cells names {len(unknown)} id(s) the matrix does not expand to: {', '.join(unknown[:5])}",
            tip="qlora-check plan MATRIX --json lists the ids",
        )
    return [entry for entry in planned if entry.cell.id in set(cells)]


def _executor_skips(planned: list[PlannedCell], executor: Executor) -> list[PlannedCell]:
    """Cells the executor cannot run anywhere become `skip` now, with its reason (never a task left waiting)."""
    reasons = executor.skip_reasons([entry.cell for entry in planned if entry.planned == RUN])
    return [
        replace(entry, planned=PlanKind.SKIP, reason=reasons[entry.cell.id]) if entry.cell.id in reasons else entry
        for entry in planned
    ]


def _with_env_values(stored: Matrix, document: dict[str, Any]) -> Matrix:
    """A resumed run's matrix with its runners' env values, which run.json does not keep: read again from
    the matrix file the run was started with."""
    needs = [name for name, runner in stored.runners.items() if runner.env and not runner.has_env_values()]
    if not needs:
        return stored
    path = Path(document["path"]) if document.get("path") else None
    original = load_matrix(path) if path is not None and path.is_file() else None
    if original is None or any(name not in original.runners for name in needs):
        raise QloraCheckError(
            f"resuming needs the env values of runner {needs[0]}, which run.json does not keep",
            tip=f"restore the matrix file {path or '(its path was not recorded)'} and resume again",
        )
    return replace(stored, runners={**stored.runners, **{name: original.runners[name] for name in needs}})


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
    plan: Plan,
    run_dir: Path,
    previous: dict[str, Any],
    done: dict[str, CellResult],
    baseline: Path | None,
    observer: Observer,
    cuda_devices: int,
    executor: Executor | None = None,
    early: Launcher | None = None,
) -> RunOutcome:
    planned = plan.cells
    settings = matrix.settings
    timeout = options.timeout if options.timeout is not None else settings.timeout
    slots = executor.slots() if executor else options.jobs or settings.jobs or default_jobs()
    retries = options.retries if options.retries is not None else settings.retries
    max_memory_mb = options.max_memory_mb or settings.max_memory_mb
    writer = RunWriter(run_dir)
    try:
        writer.acquire()
    except BaseException:
        if early is not None:
            early.close()
        raise
    runnable = [entry.cell for entry in planned if entry.planned == RUN]
    # Under an executor no cell runs here: a spawn launcher that never starts anything stands in. A fork server
    # started before the plan serves when the plan agrees that forking is safe and there is something to run.
    if early is not None and runnable and spawn_reason(runnable) is None:
        launcher: Launcher = early
    else:
        if early is not None:
            early.close()
        launcher = choose_launcher(runnable, writer.logs) if executor is None else SpawnLauncher()
    history = previous_durations(options.root)
    known = active_issues(load_known_issues(), library_versions())
    recorder = _Recorder(writer, observer, matrix.expect, known, results=dict(done))
    isolation = executor.isolation if executor else launcher.isolation
    run_info = _run_document(options, matrix, plan, run_dir, previous, isolation, timeout, slots, retries)
    if executor is not None:
        run_info["executor"] = executor.describe()

    def run_batch(batch: list[CellJob]) -> bool:
        if executor is not None:
            return executor.run(batch, recorder, observer)
        return run_jobs(batch, launcher, slots, recorder, observer, history, cuda_devices=cuda_devices)

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
                    demand=demand_for(entry.cell),
                    learned_margin=settings.learned_margin,
                    max_memory_mb=max_memory_mb,
                    log_max_bytes=settings.log_max_bytes,
                    **runner_fields(entry.cell, matrix, timeout),
                )
                for entry in todo
                if entry.planned == RUN
            ]
            interrupted = _run_with_retries(jobs, run_batch, retries, recorder, writer, observer)
        finally:
            launcher.close()
            shutil.rmtree(scratch, ignore_errors=True)
        if not previous and executor is None:  # a fork server may have fallen back to spawning
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


def runner_fields(cell: Cell, matrix: Matrix, timeout: float) -> dict[str, Any]:
    """How a job runs its cell: the builtin runner, or the command runner with the matrix' definition (its
    own `timeout` ends the trainer; the cell's limit leaves it a minute to be read and judged)."""
    name = cell.typed.runner
    if name == BUILTIN:
        return {"timeout_s": timeout}
    definition = matrix.runners[name]
    limit = max(timeout, definition.timeout + RUNNER_GRACE_S) if definition.timeout else timeout
    return {"runner": "command", "runner_definition": definition.to_dict(), "timeout_s": limit}


def _run_with_retries(
    jobs: list[CellJob],
    run_batch: Callable[[list[CellJob]], bool],
    retries: int,
    recorder: _Recorder,
    writer: RunWriter,
    observer: Observer,
) -> bool:
    """Run the jobs; re-run those that crashed, timed out or ran out of memory, up to ``retries`` times."""
    interrupted = run_batch(jobs)
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
        interrupted = run_batch(again)
    return interrupted


def _run_document(
    options: RunOptions,
    matrix: Matrix,
    plan: Plan,
    run_dir: Path,
    previous: dict[str, Any],
    isolation: str,
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
        "matrix": {**matrix.to_dict(), "content": without_env_values(matrix.source)},
        "settings": {"timeout_s": timeout, "jobs": slots, "retries": retries, "isolation": isolation},
        "host": fingerprint().to_dict(),
        "planned": {
            "cells": len(plan.cells),
            "run": sum(p.planned == RUN for p in plan.cells),
            "strategy": plan.strategy,
            "not_applicable_left_out": plan.not_applicable_summary(),
        },
        "shard": {"index": options.shard[0], "count": options.shard[1]} if options.shard else None,
        "summary": {},
    }


def _not_run_result(entry: PlannedCell) -> CellResult:
    status = Status.NOT_APPLICABLE if entry.planned is PlanKind.NOT_APPLICABLE else Status.SKIP
    now = utc_now()
    cell = entry.cell
    return CellResult(cell.id, cell.label, cell.values, status, entry.reason, started_at=now, ended_at=now)
