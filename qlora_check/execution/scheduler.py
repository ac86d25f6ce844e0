"""The scheduler: starts cell jobs as slots free up (CPU threads, one cell per CUDA device, one Metal
cell), longest expected first; records each result as it ends; survives Ctrl-C."""

from __future__ import annotations

import concurrent.futures as futures
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from qlora_check.execution.events import CellStarted, Observer
from qlora_check.execution.isolation import CellJob
from qlora_check.execution.slots import CUDA, Grant, SlotPool, cuda_device_ids, longest_first, resource_of
from qlora_check.results.models import CellResult

POLL_S = 0.05


class Launcher(Protocol):
    isolation: str

    def run(self, job: CellJob) -> CellResult: ...

    def cancel_all(self) -> None: ...

    def close(self) -> None: ...


def default_pool(jobs: Sequence[CellJob], slots: int) -> SlotPool:
    """``slots`` CPU threads, and this host's CUDA devices when CUDA cells are planned."""
    devices: list[str] = []
    if any(resource_of(job.cell) == CUDA for job in jobs):
        from qlora_check.capabilities import HostCapabilities

        devices = cuda_device_ids(HostCapabilities.detect().cuda_devices)
    return SlotPool(slots, devices)


def run_jobs(
    jobs: Sequence[CellJob],
    launcher: Launcher,
    slots: int,
    record: Callable[[CellResult], None],
    observer: Observer,
    history: Mapping[str, float] | None = None,
    pool: SlotPool | None = None,
) -> bool:
    """Run every job when its resources are free, at most ``slots`` threads' worth at once;
    ``record`` each result as it ends (it emits CellFinished; this emits CellStarted).
    ``history`` (cell id -> seconds) orders them longest first.

    Returns True when the run was interrupted (KeyboardInterrupt): running cells are stopped and
    recorded as interrupted; cells not yet started get no result, so `--resume` runs them.
    """
    pool = pool or default_pool(jobs, slots)
    pool.check(jobs)
    waiting = longest_first(jobs, history or {})

    def one(job: CellJob) -> CellResult:
        observer(CellStarted(job.cell))
        return launcher.run(job)

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
    """Start, in order, every waiting job whose resources are free (a CPU cell may pass a cell
    waiting for the GPU); return the jobs still waiting."""
    still: list[CellJob] = []
    for job in waiting:
        granted = pool.try_acquire(job)
        if granted is None:
            still.append(job)
            continue
        pinned, grant = granted
        running[executor.submit(one, pinned)] = grant
    return still


def _finish(future: futures.Future[CellResult], record: Callable[[CellResult], None]) -> None:
    # `record` owns the result from here: it may judge it (expectations, retries) before it emits CellFinished.
    record(future.result())
