"""Start a cell's ranks and watch all of them: the first rank to fail ends the cell, and no rank survives.

Ranks are forked from the cell's worker, which the fork server forked warm (torch, transformers and peft
imported, single-threaded, no torch op run in the worker yet): a rank starts in milliseconds instead of
paying ~6 s of imports. Where forking is unsafe (the worker has threads, or CUDA is initialised in it) they
are spawned as fresh interpreters instead; the outcome says which.

The watcher waits on every rank's pidfd. A rank that dies by a signal, exits without a result, or records
an error ends the cell at once: its peers (blocked in a collective, or soon to be) are killed with every
process they started. At the deadline the rank that got least far (by its events) is named as the one
that hung.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qlora_check.distributed.rank import RankSpec, run_rank
from qlora_check.fileio import read_result_file, redirect_to_log
from qlora_check.forking import fork_safety

PR_SET_PDEATHSIG = 1
# A spawned rank starts here: the worker's layer, which hands the rank its fault injector.
SPAWN_ENTRY = "qlora_check.execution.rank_entry"
RANK_MARKER = "QLORA_CHECK_RANK_OF"  # in every rank's (and its children's) environment: orphan scans find them


@dataclass
class RankOutcome:
    rank: int
    pid: int
    returncode: int | None = None  # negative: killed by that signal
    killed_by_watcher: bool = False
    result: dict[str, Any] | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    ended_at: float | None = None  # monotonic
    log_path: Path | None = None

    def log_tail(self, lines: int = 30) -> str:
        if self.log_path is None:
            return ""
        try:
            text = self.log_path.read_bytes()[-64 * 1024 :].decode("utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    @property
    def failed(self) -> bool:
        return self.returncode != 0 or self.result is None or "error" in self.result


@dataclass
class LaunchOutcome:
    ranks: list[RankOutcome]
    mode: str  # fork | spawn
    timed_out: bool
    start_s: float  # from the first fork to the last rank running
    wall_s: float
    culprit: int | None = None  # the rank that failed first (or hung)


def launch_ranks(
    specs: list[RankSpec],
    timeout_s: float,
    *,
    fault: Callable[[str, int], None] | None = None,
    force_spawn: bool = False,
) -> LaunchOutcome:
    """Run one cell's ranks to their end (or the first failure, or ``timeout_s``); never leaves one running."""
    safe, _ = fork_safety("the worker")
    mode = "fork" if safe and not force_spawn else "spawn"
    started = time.monotonic()
    outcomes: dict[int, RankOutcome] = {}
    spawned: list[subprocess.Popen[bytes]] = []
    try:
        for spec in specs:
            if mode == "fork":
                pid = _fork_rank(spec, fault)
            else:
                spawned.append(_spawn_rank(spec))
                pid = spawned[-1].pid
            outcomes[pid] = RankOutcome(spec.rank, pid)
        start_s = time.monotonic() - started
        timed_out = _watch(outcomes, started + timeout_s)
    finally:
        _kill_all(outcomes)
        for process in spawned:  # reaped here with waitpid: tell each Popen, so it does not warn it still runs
            process.returncode = outcomes[process.pid].returncode
    for spec, outcome in zip(specs, sorted(outcomes.values(), key=lambda o: o.rank), strict=True):
        outcome.result = read_result_file(spec.result_path())
        outcome.events = _read_events(spec.events_path())
        outcome.log_path = spec.directory / f"rank-{spec.rank}.log"
        _copy_log(outcome)
    ranks = sorted(outcomes.values(), key=lambda o: o.rank)
    culprit = _hung_rank(ranks) if timed_out else _first_failure(ranks)
    return LaunchOutcome(ranks, mode, timed_out, start_s, time.monotonic() - started, culprit)


def _fork_rank(spec: RankSpec, fault: Callable[[str, int], None] | None) -> int:
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:  # in the rank: die with the worker, own log, marker for orphan scans, then run
        _die_with_parent()
        gc.freeze()  # the worker's objects: a rank's collections (teardown's included) skip them, ~3 s less
        redirect_to_log(spec.directory / f"rank-{spec.rank}.log")
        os.environ[RANK_MARKER] = spec.work_dir
        code = run_rank(spec, fault)
    except BaseException:  # a rank must never return into the worker's code
        import traceback

        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _spawn_rank(spec: RankSpec) -> subprocess.Popen[bytes]:
    spec_path = spec.directory / "ranks.json"
    spec_path.write_text(json.dumps(spec.to_dict()), encoding="utf-8")
    env = {**os.environ, RANK_MARKER: spec.work_dir, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    with open(spec.directory / f"rank-{spec.rank}.log", "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", SPAWN_ENTRY, str(spec_path), str(spec.rank)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            preexec_fn=_die_with_parent,
        )
    return process


def _die_with_parent() -> None:
    """SIGKILL this rank when the worker dies (Linux); the cell's group kill covers the rest."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)



def _watch(outcomes: dict[int, RankOutcome], deadline: float) -> bool:
    """Reap ranks as they end; stop at the first failure or the deadline. True when the deadline struck."""
    descriptors = {os.pidfd_open(pid): pid for pid in outcomes}
    try:
        while descriptors:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return True
            ready, _, _ = select.select(list(descriptors), [], [], min(remaining, 1.0))
            for descriptor in ready:
                pid = descriptors.pop(descriptor)
                os.close(descriptor)
                _, status = os.waitpid(pid, 0)
                outcome = outcomes[pid]
                outcome.returncode = os.waitstatus_to_exitcode(status)
                outcome.ended_at = time.monotonic()
            if any(o.returncode not in (None, 0) for o in outcomes.values()):
                return False
        return False
    finally:
        for descriptor in descriptors:
            os.close(descriptor)


def _kill_all(outcomes: dict[int, RankOutcome]) -> None:
    """SIGKILL every rank still running and everything it started, then reap the ranks."""
    import psutil

    running = [o for o in outcomes.values() if o.returncode is None]
    victims: list[psutil.Process] = []
    for outcome in running:
        with contextlib.suppress(psutil.Error):
            parent = psutil.Process(outcome.pid)
            victims += [parent, *parent.children(recursive=True)]
    for victim in victims:
        with contextlib.suppress(psutil.Error):
            victim.kill()
    for outcome in running:
        with contextlib.suppress(ChildProcessError):
            _, status = os.waitpid(outcome.pid, 0)
            outcome.returncode = os.waitstatus_to_exitcode(status)
        outcome.killed_by_watcher = True
        outcome.ended_at = time.monotonic()
    psutil.wait_procs([v for v in victims if v.pid not in outcomes], timeout=5)


def _first_failure(ranks: list[RankOutcome]) -> int | None:
    """The rank whose failure started it: a death by signal, else an error of its own (not a broken
    collective, which is what its peers see), else the earliest to end. A rank the watcher killed counts when
    it had already recorded an error: a rank that raised can still be shutting down when a peer that saw the
    broken collective has exited."""
    failed = [o for o in ranks if o.failed and (not o.killed_by_watcher or (o.result or {}).get("error"))]
    if not failed:
        return None

    def order(outcome: RankOutcome) -> tuple[int, float]:
        if outcome.returncode is not None and outcome.returncode < 0 and not outcome.killed_by_watcher:
            return 0, outcome.ended_at or 0.0
        error = (outcome.result or {}).get("error")
        if error and not _collective_failure(error):
            return 1, float((outcome.result or {}).get("failed_at", 0.0))
        return 2, outcome.ended_at or 0.0

    return min(failed, key=order).rank


def _collective_failure(error: dict[str, Any]) -> bool:
    text = f"{error.get('type', '')} {error.get('message', '')}".lower()
    return any(word in text for word in ("distbackenderror", "connection closed", "connection reset", "gloo", "nccl"))


def _hung_rank(ranks: list[RankOutcome]) -> int:
    """The rank that got least far: fewest events, then the earliest last event."""
    return min(ranks, key=lambda o: (len(o.events), -o.rank)).rank


def _copy_log(outcome: RankOutcome) -> None:
    """The rank's log tail into the worker's own output (the cell's log), under a header."""
    sys.stderr.write(f"----- rank {outcome.rank} (pid {outcome.pid}, exit {outcome.returncode}): {outcome.log_path}\n")
    sys.stderr.write(outcome.log_tail(200) + "\n")
    sys.stderr.flush()


def _read_events(path: Path) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    with contextlib.suppress(OSError):
        for line in path.read_text(encoding="utf-8").splitlines():
            with contextlib.suppress(ValueError):
                events.append(json.loads(line))
    return events
