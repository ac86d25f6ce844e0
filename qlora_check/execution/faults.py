"""Fault injection (the `inject` axis): real faults, for testing the harness and users' CI."""

from __future__ import annotations

import ctypes
import os
import resource
import signal
import time


def inject(fault: str) -> None:
    """Cause ``fault`` in this process. Returns only for ``none``."""
    if fault == "none":
        return
    if fault == "segfault":
        ctypes.string_at(0)  # reads address 0: SIGSEGV
    elif fault == "abort":
        os.abort()
    elif fault == "sigkill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif fault == "exit":
        os._exit(3)
    elif fault == "hang":
        while True:
            time.sleep(60)
    elif fault == "raise":
        raise RuntimeError("injected fault: raise")
    elif fault == "oom":
        _exhaust_memory()
    raise ValueError(f"unknown fault {fault!r}")


def _exhaust_memory() -> None:
    """Allocate under a tight address-space limit until the allocator fails with MemoryError."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/statm", encoding="ascii") as statm:
        current = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    limit = current + 256 * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard))
    hoard = []
    try:
        while True:
            hoard.append(bytearray(32 * 2**20))
    finally:
        hoard.clear()
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
