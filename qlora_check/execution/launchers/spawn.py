"""The spawning launcher: a fresh interpreter per child, in its own session (its group can be killed)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

from qlora_check.execution.launchers.interface import Launcher, LaunchRequest, RawOutcome
from qlora_check.execution.launchers.process import (
    child_environment,
    kill_group,
    log_tail,
    oom_killer_struck,
    wait_capping_log,
)
from qlora_check.execution.limits import kernel_oom_kills
from qlora_check.fileio import read_result_file
from qlora_check.results.store import utc_now


class SpawnLauncher(Launcher):
    """Starts ``python -m ENTRY`` per request. Thread-safe; `cancel_all` stops every running child."""

    isolation = "spawn"

    def __init__(self) -> None:
        super().__init__()
        self._running: dict[int, subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()

    def launch(self, request: LaunchRequest) -> RawOutcome:
        request.log_path.parent.mkdir(parents=True, exist_ok=True)
        started_at, started = utc_now(), time.perf_counter()
        oom_kills_before = kernel_oom_kills()
        with open(request.log_path, "ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", request.entry, *request.args],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=child_environment(request.threads, request.env),
                start_new_session=True,
            )
            with self._lock:
                self._running[process.pid] = process
            try:
                timed_out = wait_capping_log(process, request)
            except BaseException:  # Ctrl-C: the child runs in its own session and would outlive us
                kill_group(process)
                raise
            finally:
                with self._lock:
                    self._running.pop(process.pid, None)
        return RawOutcome(
            returncode=process.returncode,
            timed_out=timed_out,
            cancelled=self.cancelled.is_set(),
            oom_killed=oom_killer_struck(oom_kills_before, process.returncode),
            result=read_result_file(request.result_path),
            log_tail=log_tail(request.log_path),
            started_at=started_at,
            duration_s=time.perf_counter() - started,
        )

    def cancel_all(self) -> None:
        """Stop every running child (their cells become `interrupted`)."""
        super().cancel_all()
        with self._lock:
            running = list(self._running.values())
        for process in running:
            kill_group(process)
