"""The reaper kills a dead Ray worker's cell processes (and theirs), and leaves finished cells' tokens alone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

import psutil

from qlora_check.scaleout.reaper import TOKEN_VARIABLE
from tests.conftest import pythonpath_env

# A stand-in for a Ray worker: registers a token with its reaper, starts a "cell" (in its own session, as
# the spawn launcher does) that starts a grandchild, then waits to be killed.
WORKER = """
import os, subprocess, sys, time
from qlora_check.scaleout import task
token = sys.argv[1]
task._tell_reaper("+" + token)
env = {**os.environ, "QLORA_CHECK_REAPER_TOKEN": token}
code = "import subprocess, time; subprocess.Popen(['sleep', '300']); time.sleep(300)"
subprocess.Popen([sys.executable, "-c", code], env=env, start_new_session=True)
print("ready", flush=True)
time.sleep(300)
"""


def carrying(token: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter():
        try:
            if process.environ().get(TOKEN_VARIABLE) == token:
                found.append(process)
        except (psutil.Error, OSError):
            continue
    return found


def wait_for(condition, seconds: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def test_a_killed_worker_s_cell_and_its_children_are_reaped() -> None:
    token = uuid.uuid4().hex
    worker = subprocess.Popen(
        [sys.executable, "-c", WORKER, token], env=pythonpath_env(), stdout=subprocess.PIPE, text=True
    )
    try:
        assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
        assert wait_for(lambda: len(carrying(token)) == 2, 30)  # the cell and its grandchild
        os.kill(worker.pid, signal.SIGKILL)  # no cleanup of its own: only the reaper can act
        worker.wait(timeout=10)
        assert wait_for(lambda: carrying(token) == [], 30)
    finally:
        for process in carrying(token):
            process.kill()
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        if worker.stdout is not None:
            worker.stdout.close()
