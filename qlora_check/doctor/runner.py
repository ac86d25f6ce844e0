"""Start one probe worker subprocess, bounded by a timeout, and say how it ended.

Like the cell workers: a fresh interpreter in its own session (a hang is killed with its children),
one compute thread, the result written to a file we name (stray prints cannot corrupt it).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qlora_check.execution.isolation import cell_environment, kill_group, log_tail, read_result_file

WORKER_MODULE = "qlora_check.doctor.probe_worker"


@dataclass(frozen=True)
class WorkerOutcome:
    result: dict[str, Any] | None  # what the worker wrote; None when it wrote nothing readable
    returncode: int | None
    timed_out: bool
    output_tail: str
    duration_s: float


def run_worker(request: dict[str, Any], timeout_s: float, env: dict[str, str] | None = None) -> WorkerOutcome:
    """Run the probe worker on ``request``; ``env`` adds to (or overrides) the inherited environment."""
    with tempfile.TemporaryDirectory(prefix="qlora-check-probe-") as scratch:
        directory = Path(scratch)
        request_path, result_path, log_path = directory / "request.json", directory / "result.json", directory / "log"
        request_path.write_text(json.dumps(request), encoding="utf-8")
        started = time.perf_counter()
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", WORKER_MODULE, str(request_path), str(result_path)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=cell_environment(1, env or {}),
                start_new_session=True,
            )
            timed_out = False
            try:
                process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                kill_group(process)
                timed_out = True
            except BaseException:  # Ctrl-C: the probe runs in its own session and would outlive us
                kill_group(process)
                raise
        duration = time.perf_counter() - started
        return WorkerOutcome(
            read_result_file(result_path), process.returncode, timed_out, log_tail(log_path, 15), duration
        )
