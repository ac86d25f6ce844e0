"""Fault injection (the `inject` axis): real faults, for testing the harness and users' CI."""

from __future__ import annotations

import ctypes
import os
import resource
import signal
import subprocess
import sys
import time

from qlora_check.execution.limits import apply_memory_cap


def inject(fault: str, attempt: int = 1) -> None:
    """Cause ``fault`` in this process. Returns for ``none``, and for ``crash_once`` after the first attempt."""
    if fault == "none" or (fault == "crash_once" and attempt > 1):
        return
    if fault == "crash_once":
        fault = "segfault"
    if fault == "segfault":
        ctypes.string_at(0)  # reads address 0: SIGSEGV
    elif fault == "abort":
        os.abort()
    elif fault == "sigkill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif fault == "exit":
        os._exit(3)
    elif fault == "hang":
        # A grandchild too, so tests can prove a timeout kills the whole process group.
        grandchild = subprocess.Popen(["sleep", "3600"])
        sys.stderr.write(f"injected hang: grandchild pid {grandchild.pid}\n")
        sys.stderr.flush()
        while True:
            time.sleep(60)
    elif fault == "raise":
        raise RuntimeError("injected fault: raise")
    elif fault == "oom":
        _exhaust_memory()
    raise ValueError(f"unknown fault {fault!r}")


def _exhaust_memory() -> None:
    """Allocate until the allocator fails with MemoryError: under the cell's memory cap when one is set,
    else under a 256 MiB cap set here (never the host's real memory)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        apply_memory_cap(256)
    hoard = []
    try:
        while True:
            hoard.append(bytearray(32 * 2**20))
    finally:
        hoard.clear()
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
