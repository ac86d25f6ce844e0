"""The launcher extension point: how a job becomes a process (asv's Spawner / ForkServer shape).

A launcher only starts a child and reports how it ended, as a `RawOutcome`; what that outcome means is
decided in one place (`execution.classify`). Cells and doctor probes go through the same launchers.
`Launcher.run(job)` is written once here, so the caller never knows which launcher ran its cell, and a
launcher that raises gives that cell an `error` result, never the end of the run.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod

from qlora_check.errors import QloraCheckError
from qlora_check.execution.classify import cell_result, launcher_failure
from qlora_check.execution.job import CellJob, write_job_spec
from qlora_check.execution.launchers.types import LaunchRequest, RawOutcome
from qlora_check.results.models import CellResult

WORKER = "qlora_check.execution.worker"


class LaunchError(QloraCheckError):
    """A launcher could not start a child at all (not a fault of the cell)."""


class Launcher(ABC):
    """Starts children; thread-safe. `cancel_all` stops every running child (their cells: interrupted)."""

    isolation: str = "?"

    def __init__(self) -> None:
        self.cancelled = threading.Event()

    @abstractmethod
    def launch(self, request: LaunchRequest) -> RawOutcome:
        """Run one child to its end (or its limit) and say how it ended."""

    def run(self, job: CellJob) -> CellResult:
        """Run one cell attempt: its job spec written, its child launched, its outcome classified."""
        try:
            raw = self.launch(cell_request(job))
        except Exception as exc:  # a launcher bug or a full disk: this cell's error, not the run's end
            return launcher_failure(job, exc)
        return cell_result(job, raw)

    def cancel_all(self) -> None:
        self.cancelled.set()

    def close(self) -> None:
        """Release what the launcher holds (a server, sockets); the default holds nothing."""
        return None

    def __enter__(self) -> Launcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def cell_request(job: CellJob) -> LaunchRequest:
    """The child of one cell attempt: the worker, reading the job spec written for it."""
    spec_path, result_path = write_job_spec(job)
    return LaunchRequest(
        entry=WORKER,
        args=(str(spec_path),),
        log_path=job.log_path,
        result_path=result_path,
        timeout_s=job.timeout_s,
        threads=job.threads,
        env=job.extra_env,
        log_max_bytes=job.log_max_bytes,
    )


__all__ = ["LaunchError", "LaunchRequest", "Launcher", "RawOutcome", "cell_request"]
