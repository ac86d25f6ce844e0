"""What a Ray task does on its node: run one cell exactly as a local run does (the spawn launcher, an
isolated process, the same limits and statuses) and stream back where it runs, then the result and log.

The task is a generator (Ray's streaming returns): its first item says which node took the cell, so the
driver can start the cell's clock and show progress; its second is the result. Its files live in a
temporary directory of the node; the log travels back with the result.
"""

from __future__ import annotations

import functools
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from qlora_check.execution.job import CellJob
from qlora_check.host import library_versions
from qlora_check.results.models import CellResult
from qlora_check.scaleout.node_resources import FINGERPRINT_LABEL, HOST_LABEL
from qlora_check.scaleout.reaper import MODULE as REAPER_MODULE
from qlora_check.scaleout.reaper import TOKEN_VARIABLE, kill_tokens

STARTED, FINISHED = "started", "finished"

_reaper: subprocess.Popen[bytes] | None = None
_reaper_lock = threading.Lock()


def node_identity() -> dict[str, Any]:
    """Who runs this cell: the node's host, doctor fingerprint, Ray node id and exact library versions."""
    import ray

    context = ray.get_runtime_context()
    labels = context.get_node_labels()
    return {
        "host": labels.get(HOST_LABEL) or socket.gethostname(),
        "fingerprint": labels.get(FINGERPRINT_LABEL, ""),
        "node_id": context.get_node_id(),
        "libraries": _library_versions(),
        "ray": ray.__version__,
    }


@functools.cache
def _library_versions() -> dict[str, str | None]:
    """Read once per Ray worker process (package metadata costs milliseconds per cell otherwise)."""
    return library_versions()


def run_cell_task(job: CellJob) -> Iterator[dict[str, Any]]:
    """The body of the Ray task (see `qlora_check.scaleout.executor`)."""
    yield {"kind": STARTED, "node": node_identity()}
    scratch = Path(tempfile.mkdtemp(prefix=f"qlora-check-{job.cell.id}-"))
    token = uuid.uuid4().hex
    local = replace(
        job,
        work_dir=scratch / "work",
        log_path=scratch / "cell.log",
        extra_env={**job.extra_env, TOKEN_VARIABLE: token},
    )
    _tell_reaper(f"+{token}")
    try:
        result = launch(local).to_dict()
    except BaseException:
        # The worker is being stopped (cancel, raylet gone): stop the cell now, and leave the token open
        # so the reaper sweeps again once this process is gone.
        kill_tokens({token})
        raise
    else:
        _tell_reaper(f"-{token}")
        log = _read_log(local.log_path, local.log_max_bytes)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    yield {"kind": FINISHED, "result": result, "log": log}


def launch(job: CellJob) -> CellResult:
    """The same launcher a local run uses for an isolated cell."""
    from qlora_check.execution.launchers.spawn import SpawnLauncher

    with SpawnLauncher() as launcher:
        return launcher.run(job)


def _read_log(path: Path, max_bytes: int) -> str:
    try:
        data = path.read_bytes()
    except OSError:
        return ""
    return data[-max_bytes:].decode("utf-8", errors="replace")


def _tell_reaper(line: str) -> None:
    """Tell this worker's reaper; start it on first use, and again if it is gone (a broken pipe)."""
    global _reaper
    with _reaper_lock:
        for _ in range(2):
            if _reaper is None:
                _reaper = _start_reaper()
            try:
                assert _reaper.stdin is not None
                _reaper.stdin.write(f"{line}\n".encode())
                _reaper.stdin.flush()
                return
            except OSError:
                _reaper = None


def _start_reaper() -> subprocess.Popen[bytes]:
    """The reaper, detached (its parent exits at once) so that it outlives this worker."""
    process = subprocess.Popen(
        [sys.executable, "-m", REAPER_MODULE, "--detach"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env={**os.environ, TOKEN_VARIABLE: ""},
    )
    process.wait()  # the detached reaper holds the pipe's read end from here
    return process
