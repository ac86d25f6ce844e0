"""Memory limits and out-of-memory recognition, shared by the worker and the parent."""

from __future__ import annotations

import os
import resource
from pathlib import Path

# Messages by which frameworks report an allocation failure without raising MemoryError.
OUT_OF_MEMORY_MARKERS = (
    "can't allocate memory",
    "out of memory",
    "std::bad_alloc",
    "cannot allocate memory",
    "failed to allocate",
)
OUT_OF_MEMORY_TYPES = {"MemoryError", "OutOfMemoryError", "OutOfResources"}


def is_out_of_memory(exc: BaseException) -> bool:
    """MemoryError, torch's OutOfMemoryError, or an allocator failure reported as another error."""
    if isinstance(exc, MemoryError) or type(exc).__name__ in OUT_OF_MEMORY_TYPES:
        return True
    message = str(exc).lower()
    return isinstance(exc, RuntimeError) and any(marker in message for marker in OUT_OF_MEMORY_MARKERS)


def out_of_memory_error(type_name: str, message: str) -> bool:
    """The same judgement from a recorded error (a rank's, read from its result file)."""
    short = type_name.rsplit(".", 1)[-1]
    lowered = message.lower()
    return short in OUT_OF_MEMORY_TYPES or short == "MemoryError" or any(m in lowered for m in OUT_OF_MEMORY_MARKERS)


def apply_memory_cap(max_mb: int) -> int:
    """Let this process's address space grow by at most ``max_mb`` MiB from now on; returns the limit.

    RLIMIT_AS bounds virtual memory, so an allocation beyond the cap fails at once (MemoryError, or
    the framework's allocator error) instead of the kernel's OOM killer taking the whole host down.
    """
    with open("/proc/self/statm", encoding="ascii") as statm:
        current = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    limit = current + max_mb * 2**20
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    return limit


def kernel_oom_kills() -> int | None:
    """The kernel's count of OOM-killer kills so far (Linux /proc/vmstat), or None where unknown."""
    try:
        for line in Path("/proc/vmstat").read_text().splitlines():
            if line.startswith("oom_kill "):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None
