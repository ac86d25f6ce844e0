"""Isolation: each cell in its own OS process (its own session, so its whole group can be killed),
and the parent's classification of how that process ended.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from qlora_check.execution.limits import kernel_oom_kills
from qlora_check.matrix.cell import Cell
from qlora_check.results.models import CellResult, ErrorInfo, Status
from qlora_check.results.store import utc_now

LOG_TAIL_LINES = 30
TERMINATE_GRACE_S = 3.0
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)


@dataclass(frozen=True)
class CellJob:
    """One attempt of one cell: where its files go and what limits apply."""

    cell: Cell
    work_dir: Path
    log_path: Path
    timeout_s: float
    threads: int = 1
    learned_margin: float = 0.2
    max_memory_mb: int | None = None
    attempt: int = 1
    log_max_bytes: int = 2_000_000
    extra_env: dict[str, str] = field(default_factory=dict)


def cell_environment(threads: int, extra: dict[str, str]) -> dict[str, str]:
    """The child's environment: the parent's, with compute threads pinned before torch is imported.

    Two cells with 2 OpenMP threads each on 2 cores ran ~140x slower than with one thread each.
    """
    env = dict(os.environ)
    env.update({name: str(threads) for name in THREAD_VARIABLES})
    env["TOKENIZERS_PARALLELISM"] = "false"
    env["PYTHONUNBUFFERED"] = "1"
    env["HF_HUB_DISABLE_TELEMETRY"] = "1"
    env.update(extra)
    return env


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def cap_log(path: Path, max_bytes: int) -> bool:
    """Keep only the tail of a log that grew past ``max_bytes``; True when it was cut.

    The child writes with O_APPEND, so its next write lands after the kept tail.
    """
    try:
        size = path.stat().st_size
        if size <= max_bytes:
            return False
        keep = max_bytes // 2
        with open(path, "r+b") as handle:
            handle.seek(size - keep)
            tail = handle.read()
            handle.seek(0)
            handle.truncate()
            handle.write(f"[qlora-check: log cut to its last {keep} bytes of {size}]\n".encode() + tail)
    except OSError:
        return False
    return True


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def write_spec(job: CellJob) -> tuple[Path, Path]:
    """Prepare the cell's directories and spec file (shared by every launcher); return spec and result paths."""
    job.work_dir.mkdir(parents=True, exist_ok=True)
    job.log_path.parent.mkdir(parents=True, exist_ok=True)
    spec_path, result_path = job.work_dir / "spec.json", job.work_dir / "result.json"
    with contextlib.suppress(FileNotFoundError):
        result_path.unlink()
    spec: dict[str, Any] = {
        "values": job.cell.values,
        "work_dir": str(job.work_dir),
        "result_path": str(result_path),
        "learned_margin": job.learned_margin,
        "max_memory_mb": job.max_memory_mb,
        "attempt": job.attempt,
    }
    spec_path.write_text(json.dumps(spec), encoding="utf-8")
    return spec_path, result_path


class ProcessHandle(Protocol):
    """A cell's process as `kill_group` needs it: a subprocess.Popen, or a fork server's child."""

    @property
    def pid(self) -> int: ...

    def wait(self, timeout: float | None = None) -> int: ...


class SubprocessLauncher:
    """Starts a fresh interpreter per cell. Thread-safe; `cancel_all` stops every running cell."""

    isolation = "spawn"

    def __init__(self) -> None:
        self._running: dict[int, subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()
        self.cancelled = threading.Event()

    def run(self, job: CellJob) -> CellResult:
        spec_path, result_path = write_spec(job)
        started_at, started = utc_now(), time.perf_counter()
        oom_kills_before = kernel_oom_kills()
        with open(job.log_path, "ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "qlora_check.execution.worker", str(spec_path)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=cell_environment(job.threads, job.extra_env),
                start_new_session=True,
            )
            with self._lock:
                self._running[process.pid] = process
            try:
                timed_out = wait_capping_log(process, job)
            finally:
                with self._lock:
                    self._running.pop(process.pid, None)
        elapsed = time.perf_counter() - started
        oom_killed = oom_killer_struck(oom_kills_before, process.returncode)
        return classify(
            job, process.returncode, timed_out, self.cancelled.is_set(), result_path, started_at, elapsed, oom_killed
        )

    def close(self) -> None:
        """Nothing to release: each cell's interpreter is gone when its cell ends."""

    def cancel_all(self) -> None:
        """Stop every running cell (their results become `interrupted`)."""
        self.cancelled.set()
        with self._lock:
            running = list(self._running.values())
        for process in running:
            kill_group(process)


def wait_capping_log(process: ProcessHandle, job: CellJob) -> bool:
    """Wait for the cell, keeping its log under the cap; kill its group at the timeout (returns True)."""
    deadline = time.monotonic() + job.timeout_s
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            kill_group(process)
            cap_log(job.log_path, job.log_max_bytes)
            return True
        try:
            process.wait(timeout=min(1.0, remaining))
        except subprocess.TimeoutExpired:
            cap_log(job.log_path, job.log_max_bytes)
            continue
        cap_log(job.log_path, job.log_max_bytes)
        return False


def oom_killer_struck(before: int | None, returncode: int | None) -> bool:
    """A SIGKILL while the kernel's OOM-kill count rose: the OOM killer, most likely."""
    after = kernel_oom_kills()
    return returncode == -signal.SIGKILL and before is not None and after is not None and after > before


def kill_group(process: ProcessHandle) -> None:
    """SIGTERM the cell's whole process group, then SIGKILL what is left after a grace period."""
    for sig, grace in ((signal.SIGTERM, TERMINATE_GRACE_S), (signal.SIGKILL, 10.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            continue
        break
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)  # grandchildren that outlived the leader


def classify(
    job: CellJob,
    returncode: int | None,
    timed_out: bool,
    cancelled: bool,
    result_path: Path,
    started_at: str,
    elapsed: float,
    oom_killed: bool = False,
) -> CellResult:
    """Map how the worker ended to a result: its own result file when it wrote one, else the fault."""
    common: dict[str, Any] = {
        "cell_id": job.cell.id,
        "label": job.cell.label,
        "values": job.cell.values,
        "log_path": str(job.log_path),
        "attempt": job.attempt,
        "started_at": started_at,
        "ended_at": utc_now(),
    }
    written = read_result_file(result_path)
    if written is not None and not timed_out:
        result = CellResult.from_dict({**written, "log_path": str(job.log_path), "attempt": job.attempt})
        timings = {**result.timings, "wall_s": elapsed}
        return CellResult.from_dict({**result.to_dict(), "timings": timings})
    tail = log_tail(job.log_path)
    timings = {"wall_s": elapsed}
    if cancelled:
        return CellResult(**common, status=Status.INTERRUPTED, reason="the run was interrupted", timings=timings)
    if timed_out:
        reason = f"exceeded the {job.timeout_s:g} s timeout; the process group was killed"
        error = ErrorInfo("Timeout", reason, tail)
        return CellResult(**common, status=Status.TIMEOUT, reason=reason, error=error, timings=timings)
    if oom_killed:
        reason = "killed by SIGKILL while the kernel's OOM killer struck (out of memory)"
        return CellResult(
            **common, status=Status.OOM, reason=reason, error=ErrorInfo("SIGKILL", reason, tail), timings=timings
        )
    if returncode is not None and returncode < 0:
        name = signal_name(-returncode)
        reason = f"killed by {name}"
        return CellResult(
            **common, status=Status.CRASH, reason=reason, error=ErrorInfo(name, reason, tail), timings=timings
        )
    reason = f"the worker exited with code {returncode} without writing a result"
    return CellResult(
        **common, status=Status.ERROR, reason=reason, error=ErrorInfo("WorkerExit", reason, tail), timings=timings
    )


def read_result_file(path: Path) -> dict[str, Any] | None:
    """A worker's result file as a dict; None when missing, torn or not an object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
