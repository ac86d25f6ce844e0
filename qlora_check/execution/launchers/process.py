"""Process plumbing every launcher shares: the child's environment, waiting with a capped log and a
timeout, killing a whole process group, reading the result file a child wrote."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from qlora_check.execution.limits import kernel_oom_kills
from qlora_check.host import THREAD_VARIABLES

LOG_TAIL_LINES = 30
TERMINATE_GRACE_S = 3.0


def child_environment(threads: int, extra: Mapping[str, str]) -> dict[str, str]:
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


class ProcessHandle(Protocol):
    """A child as `kill_group` needs it: a subprocess.Popen, or a fork server's child."""

    @property
    def pid(self) -> int: ...

    def wait(self, timeout: float | None = None) -> int: ...


class LogLimits(Protocol):
    """What waiting needs to know: the time limit and the log to keep under its cap."""

    @property
    def timeout_s(self) -> float: ...

    @property
    def log_path(self) -> Path: ...

    @property
    def log_max_bytes(self) -> int: ...


def wait_capping_log(process: ProcessHandle, limits: LogLimits) -> bool:
    """Wait for the child, keeping its log under the cap; kill its group at the timeout (returns True)."""
    deadline = time.monotonic() + limits.timeout_s
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            kill_group(process)
            cap_log(limits.log_path, limits.log_max_bytes)
            return True
        try:
            process.wait(timeout=min(1.0, remaining))
        except subprocess.TimeoutExpired:
            cap_log(limits.log_path, limits.log_max_bytes)
            continue
        cap_log(limits.log_path, limits.log_max_bytes)
        return False


def oom_killer_struck(before: int | None, returncode: int | None) -> bool:
    """A SIGKILL while the kernel's OOM-kill count rose: the OOM killer, most likely."""
    after = kernel_oom_kills()
    return returncode == -signal.SIGKILL and before is not None and after is not None and after > before


def kill_group(process: ProcessHandle) -> None:
    """SIGTERM the child's whole process group, then SIGKILL what is left after a grace period."""
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
