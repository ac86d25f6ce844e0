"""Whether this process may fork children now: the one rule the fork server and a distributed cell's worker
(which forks its ranks) both apply. Standard library only, so it sits below everything that forks."""

from __future__ import annotations

import os
import sys


def thread_count() -> int:
    """This process' OS threads (Linux); 1 where it cannot be told."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 1


def fork_safety(who: str) -> tuple[bool, str]:
    """Whether ``who`` (this process, named for the message) may fork: one thread only (forking a
    multi-threaded process can hang the child), and CUDA not initialised here (a child cannot use it)."""
    threads = thread_count()
    if threads > 1:
        return False, f"{who} has {threads} threads (forking a multi-threaded process can hang the child)"
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        return False, f"CUDA is initialised in {who} (a forked child cannot use it)"
    return True, ""
