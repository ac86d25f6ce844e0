"""The scheduler: starts cell jobs as their demands can be granted (CPU threads, CUDA devices, the Metal
GPU), longest expected first; records each result as it ends; survives Ctrl-C."""

from __future__ import annotations

import concurrent.futures as futures
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from qlora_check.events import CellStarted, Observer
from qlora_check.execution.classify import launcher_failure
from qlora_check.execution.job import CellJob
from qlora_check.execution.ordering import longest_first
from qlora_check.execution.resources import CUDA, Grant, SlotPool, cuda_device_ids
from qlora_check.results.models import CellResult

POLL_S = 0.05


class JobRunner(Protocol):
    """What the scheduler needs of a launcher."""

    def run(self, job: CellJob) -> CellResult: ...

    def cancel_all(self) -> None: ...


def default_pool(jobs: Sequence[CellJob], slots: int, cuda_devices: int) -> SlotPool:
    """``slots`` CPU threads, and this host's ``cuda_devices`` when CUDA cells are planned."""
    wants_cuda = any(job.demand.device_kind == CUDA for job in jobs)
    return SlotPool(slots, cuda_device_ids(cuda_devices) if wants_cuda else [])


def run_jobs(
    jobs: Sequence[CellJob],
    launcher: JobRunner,
    slots: int,
    record: Callable[[CellResult], None],
    observer: Observer,
    history: Mapping[str, float] | None = None,
    pool: SlotPool | None = None,
    cuda_devices: int = 0,
) -> bool:
    """Run every job when its demand can be granted, at most ``slots`` threads' worth at once;
    ``record`` each result as it ends (it emits CellFinished; this emits CellStarted).
    ``history`` (cell id -> seconds) orders them longest first.

    Returns True when the run was interrupted (KeyboardInterrupt): running cells are stopped and
    recorded as interrupted; cells not yet started get no result, so `--resume` runs them.
    """
    pool = pool or default_pool(jobs, slots, cuda_devices)
    pool.check(job.demand for job in jobs)
    waiting = longest_first(jobs, history or {})

    def one(job: CellJob) -> CellResult:
        observer(CellStarted(job.cell))
        try:
            return launcher.run(job)
        except Exception as exc:  # a launcher that raises costs its cell, never the run
            return launcher_failure(job, exc)

    executor = futures.ThreadPoolExecutor(max_workers=pool.cpu_threads, thread_name_prefix="cell-slot")
    running: dict[futures.Future[CellResult], Grant] = {}
    interrupted = False
    try:
        while waiting or running:
            waiting = _start_what_fits(waiting, pool, executor, one, running)
            done, _ = futures.wait(running, timeout=POLL_S, return_when=futures.FIRST_COMPLETED)
            for future in done:
                pool.release(running.pop(future))
                _finish(future, record)
    except KeyboardInterrupt:
        interrupted = True
        launcher.cancel_all()
        for future in running:
            _finish(future, record)
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
    return interrupted


def _start_what_fits(
    waiting: list[CellJob],
    pool: SlotPool,
    executor: futures.ThreadPoolExecutor,
    one: Callable[[CellJob], CellResult],
    running: dict[futures.Future[CellResult], Grant],
) -> list[CellJob]:
    """Start, in order, every waiting job whose demand can be granted (a CPU cell may pass a cell
    waiting for the GPU); return the jobs still waiting."""
    still: list[CellJob] = []
    for job in waiting:
        grant = pool.try_acquire(job.demand)
        if grant is None:
            still.append(job)
            continue
        running[executor.submit(one, job.with_grant(grant))] = grant
    return still


def _finish(future: futures.Future[CellResult], record: Callable[[CellResult], None]) -> None:
    # `record` owns the result from here: it may judge it (expectations, retries) before it emits CellFinished.
    record(future.result())
