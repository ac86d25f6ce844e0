"""The reaper: kills a Ray worker's cell processes when the worker dies before they end.

A cell runs in its own session (so its whole group can be killed), which also means it outlives a Ray
worker that is force-cancelled (driver timeout, Ctrl-C) or whose node's raylet dies. Each Ray worker
starts one reaper, itself in a new session, and holds the write end of its stdin. The worker writes
``+TOKEN`` when a cell starts (the cell's environment carries ``QLORA_CHECK_REAPER_TOKEN=TOKEN``, and so
does every process it starts) and ``-TOKEN`` when it ends. When stdin reaches end of file (the worker is
gone, however it died), the reaper kills every process whose environment still carries an open token.

The reaper must not be the worker's child: a dying Ray worker kills its direct children, whatever their
session (measured with Ray 2.60), and the cell's own children would then be orphaned with nobody to reap
them. ``python -m qlora_check.scaleout.reaper --detach`` starts the real reaper (its stdin inherited) and
exits, so the reaper's parent becomes init. Standard library and psutil only.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

import psutil

TOKEN_VARIABLE = "QLORA_CHECK_REAPER_TOKEN"
GRACE_S = 3.0
LINGER_S = 10.0
SWEEP_S = 0.5
MODULE = "qlora_check.scaleout.reaper"


def processes_with(tokens: set[str]) -> list[psutil.Process]:
    """Live processes whose environment carries one of ``tokens``."""
    found = []
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error, OSError):
            if process.environ().get(TOKEN_VARIABLE) in tokens:
                found.append(process)
    return found


def kill_tokens(tokens: set[str]) -> int:
    """SIGTERM, then SIGKILL after a grace period, every process (and its group) carrying a token."""
    if not tokens:
        return 0
    targets = processes_with(tokens)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for process in targets:
            with contextlib.suppress(ProcessLookupError, PermissionError, OSError):
                os.killpg(os.getpgid(process.pid), sig)
            with contextlib.suppress(psutil.Error):
                process.send_signal(sig)
        if sig == signal.SIGTERM:
            _, targets = psutil.wait_procs(targets, timeout=GRACE_S)
    return len(targets)


def main() -> None:
    if sys.argv[1:] == ["--detach"]:
        subprocess.Popen([sys.executable, "-m", MODULE], start_new_session=True)  # inherits stdin
        return
    open_tokens: set[str] = set()
    for line in sys.stdin:
        text = line.strip()
        if text.startswith("+"):
            open_tokens.add(text[1:])
        elif text.startswith("-"):
            open_tokens.discard(text[1:])
    # Sweep for a while: a cell caught between fork and exec does not carry its token yet, and one that
    # had just started may still be spawning its own children.
    deadline = time.monotonic() + LINGER_S
    while True:
        kill_tokens(open_tokens)
        if not open_tokens or time.monotonic() > deadline:
            return
        time.sleep(SWEEP_S)


if __name__ == "__main__":
    main()
