"""The scheduler: runs cell jobs on parallel slots, records each result as it ends, survives Ctrl-C."""

from __future__ import annotations

import concurrent.futures as futures
from collections.abc import Callable, Sequence
from typing import Protocol

from qlora_check.execution.events import CellFinished, CellStarted, Observer
from qlora_check.execution.isolation import CellJob
from qlora_check.results.models import CellResult


class Launcher(Protocol):
    isolation: str

    def run(self, job: CellJob) -> CellResult: ...

    def cancel_all(self) -> None: ...


def run_jobs(
    jobs: Sequence[CellJob],
    launcher: Launcher,
    slots: int,
    record: Callable[[CellResult], None],
    observer: Observer,
) -> bool:
    """Run every job, at most ``slots`` at once; ``record`` each result as it ends.

    Returns True when the run was interrupted (KeyboardInterrupt): running cells are stopped and
    recorded as interrupted; cells not yet started get no result, so `--resume` runs them.
    """

    def one(job: CellJob) -> CellResult:
        observer(CellStarted(job.cell))
        return launcher.run(job)

    executor = futures.ThreadPoolExecutor(max_workers=max(1, slots), thread_name_prefix="cell-slot")
    pending = {executor.submit(one, job) for job in jobs}
    interrupted = False
    try:
        while pending:
            done, pending = futures.wait(pending, timeout=0.2, return_when=futures.FIRST_COMPLETED)
            for future in done:
                _finish(future, record, observer)
    except KeyboardInterrupt:
        interrupted = True
        launcher.cancel_all()
        for future in pending:
            future.cancel()
        for future in pending:
            if not future.cancelled():
                _finish(future, record, observer)
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
    return interrupted


def _finish(future: futures.Future[CellResult], record: Callable[[CellResult], None], observer: Observer) -> None:
    result = future.result()
    record(result)
    observer(CellFinished(result))
