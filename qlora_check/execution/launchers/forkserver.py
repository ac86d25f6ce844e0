"""Warm isolated workers: children forked from a fork server that has imported the heavy modules once.

A fresh interpreter pays 5-6 s of imports (torch, transformers, peft) before a tiny cell's 0.2 s of
compute; a child forked from a warm server starts in milliseconds and is still its own process
(own process group, log, environment and threads), so a crash, OOM or hang stays in its cell.
The server side lives in `forkserver_server`; this module is the harness side, a `Launcher` that
waits and kills exactly as the spawning launcher does.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from qlora_check.engines import engine_for_backend
from qlora_check.execution.launchers.interface import Launcher
from qlora_check.execution.launchers.process import (
    child_environment,
    kill_group,
    log_tail,
    oom_killer_struck,
    wait_capping_log,
)
from qlora_check.execution.launchers.spawn import SpawnLauncher
from qlora_check.execution.launchers.types import LaunchRequest, RawOutcome
from qlora_check.execution.limits import kernel_oom_kills
from qlora_check.fileio import read_result_file
from qlora_check.matrix.cell import Cell
from qlora_check.quantizers import family_for_optimizer, family_of
from qlora_check.results.store import utc_now

ISOLATION_VARIABLE = "QLORA_CHECK_ISOLATION"  # "spawn" forces a fresh interpreter per cell
READY_TIMEOUT_S = 300.0


def preload_for(cells: Iterable[Cell]) -> tuple[list[str], list[str]]:
    """The modules the run's cells need (their engines' preloads and their quantizer families' libraries,
    where the family has an implementation in that engine), and the engines worth a warm-up cell."""
    modules: list[str] = []
    engines: list[str] = []
    warm: list[str] = []
    for cell in cells:
        engine = engine_for_backend(cell.typed.backend)
        if engine.name not in engines:
            engines.append(engine.name)
            modules.extend(name for name in engine.preload if name not in modules)
            if engine.warm_up:
                warm.append(engine.name)
        for family in (family_of(cell.typed.quantizer), family_for_optimizer(cell.typed.optimizer)):
            if family is not None and engine.name in family.engines and family.import_name not in modules:
                modules.append(family.import_name)
    return modules, warm


def spawn_reason(cells: Iterable[Cell]) -> str | None:
    """Why this run must not fork cells (a clean spawn instead), or None when forking is safe."""
    forced = os.environ.get(ISOLATION_VARIABLE, "")
    if forced == "spawn":
        return f"{ISOLATION_VARIABLE}=spawn"
    if not sys.platform.startswith("linux"):
        return f"fork is unsafe on {sys.platform} (Apple frameworks and Metal do not survive fork)"
    for cell in cells:
        backend = cell.typed.backend
        engine = engine_for_backend(backend)
        if engine.resource_of(backend) == "metal":
            return f"{backend} cells: Metal does not survive fork"
        if not engine.fork_safe:
            return f"the {engine.name} engine's cells must not be forked"
    return None


def choose_launcher(cells: list[Cell], log_dir: Path) -> Launcher:
    """A fork server with what these cells need preloaded, or a spawning launcher where forking is unsafe."""
    reason = spawn_reason(cells)
    if reason is not None:
        launcher = SpawnLauncher()
        launcher.isolation = f"spawn: {reason}"
        return launcher
    modules, warmup = preload_for(cells)
    return ForkServerLauncher(modules, warmup, log_dir / "forkserver.log")


def early_launcher(cells: list[Cell], log_dir: Path) -> ForkServerLauncher | None:
    """A fork server started before the plan is built, so it preloads while a covering array is computed.

    ``cells`` are what the run may need (a superset of its runnable cells); None where there are none or
    forking may be unsafe, which only the plan can settle (`choose_launcher` decides then).
    """
    if not cells or spawn_reason(cells) is not None:
        return None
    modules, warmup = preload_for(cells)
    return ForkServerLauncher(modules, warmup, log_dir / "forkserver.log")


def fallback_notice(launcher: object) -> str | None:
    """A line for the user when a fork server had to give way to spawning (slower, same results)."""
    isolation = getattr(launcher, "isolation", "")
    if isinstance(launcher, ForkServerLauncher) and isolation.startswith("spawn: "):
        return f"the fork server was not usable, cells after that ran in a fresh interpreter each: {isolation[7:]}"
    return None


class ForkedProcess:
    """A cell forked by the server, as `kill_group` sees it: a pid whose exit status comes over a socket."""

    def __init__(self, pid: int, connection: socket.socket) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self.lost = False  # the server went away before reporting the exit status
        self._connection = connection
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._buffer = b""

    def wait(self, timeout: float | None = None) -> int:
        """The exit status as subprocess reports it (negative: killed by that signal).

        One caller reads the socket; a concurrent caller (`cancel_all` from another thread) waits
        for the reader to see the status instead of queueing behind its long timeout.
        """
        if not self._lock.acquire(blocking=False):
            if not self._done.wait(timeout):
                raise subprocess.TimeoutExpired(str(self.pid), timeout or 0.0)
            return self._code()
        try:
            self._read_status(timeout)
        finally:
            self._lock.release()
        return self._code()

    def _read_status(self, timeout: float | None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._done.is_set():
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            self._connection.settimeout(remaining)
            try:
                chunk = self._connection.recv(4096)
            except TimeoutError:
                raise subprocess.TimeoutExpired(str(self.pid), timeout or 0.0) from None
            except OSError:
                chunk = b""
            if not chunk:
                self._lost()
                break
            self._buffer += chunk
            if b"\n" in self._buffer:
                status = int(json.loads(self._buffer.split(b"\n", 1)[0])["status"])
                self.returncode = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
                self._done.set()
        self._connection.close()

    def _code(self) -> int:
        return self.returncode if self.returncode is not None else -9

    def _lost(self) -> None:
        """No status will come: make sure the orphan is gone, and say so."""
        self.lost = True
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, 9)
        self._done.set()


class ForkServerLauncher(Launcher):
    """Runs each child forked from a warm, single-threaded fork server. Thread-safe.

    Falls back to `SpawnLauncher` (and says why in `isolation`) when the server cannot start,
    reports itself unsafe to fork, or dies.
    """

    def __init__(self, preload: list[str], warmup: list[str], log_path: Path | None = None) -> None:
        super().__init__()
        self.isolation = "forkserver"
        self.preload = preload
        self.ready: dict[str, Any] = {}
        self._fallback = SpawnLauncher()
        self._fallback.cancelled = self.cancelled
        self._running: dict[int, ForkedProcess] = {}
        self._lock = threading.Lock()
        self._ready_lock = threading.Lock()
        self._usable: bool | None = None
        self._directory = Path(tempfile.mkdtemp(prefix="qlora-fork-"))
        self._socket_path = self._directory / "server.sock"
        log_path = log_path or self._directory / "forkserver.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log: IO[bytes] = open(log_path, "ab")  # noqa: SIM115 - held for the server's lifetime
        server = "qlora_check.execution.launchers.forkserver_server"
        command = [sys.executable, "-m", server, "--socket", str(self._socket_path)]
        command += ["--preload", ",".join(preload), "--warmup", ",".join(warmup)]
        self._server = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=child_environment(1, {}),
            start_new_session=True,  # Ctrl-C in the terminal reaches the harness, which stops the cells
        )

    def launch(self, request: LaunchRequest) -> RawOutcome:
        usable = self._wait_ready()
        if self.cancelled.is_set():  # interrupted while the server was starting: start nothing
            return RawOutcome(None, False, True, False, None, "", utc_now(), 0.0)
        if not usable:
            return self._fallback.launch(request)
        request.log_path.parent.mkdir(parents=True, exist_ok=True)
        started_at, started = utc_now(), time.perf_counter()
        oom_kills_before = kernel_oom_kills()
        process = self._fork(request)
        if process is None:
            return self._fallback.launch(request)
        with self._lock:
            self._running[process.pid] = process
        try:
            if self.cancelled.is_set():  # cancel_all ran between the check above and the fork
                kill_group(process)
            timed_out = wait_capping_log(process, request)
        finally:
            with self._lock:
                self._running.pop(process.pid, None)
        returncode = None if process.lost else process.returncode
        return RawOutcome(
            returncode=returncode,
            timed_out=timed_out,
            cancelled=self.cancelled.is_set(),
            oom_killed=oom_killer_struck(oom_kills_before, returncode),
            result=read_result_file(request.result_path),
            log_tail=log_tail(request.log_path),
            started_at=started_at,
            duration_s=time.perf_counter() - started,
        )

    def _fork(self, request: LaunchRequest) -> ForkedProcess | None:
        """Ask the server for a child running this request; None (and fall back from now on) if it cannot."""
        message = {
            "entry": request.entry,
            "args": list(request.args),
            "log": str(request.log_path),
            "env": child_environment(request.threads, request.env),
            "threads": request.threads,
        }
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            connection.settimeout(30.0)
            connection.connect(str(self._socket_path))
            connection.sendall(json.dumps(message).encode("utf-8") + b"\n")
            reply, rest = _read_line(connection)
            answer = json.loads(reply)
        except (OSError, ValueError) as exc:
            connection.close()
            self._give_up(f"the fork server stopped answering ({type(exc).__name__}: {exc})")
            return None
        if "pid" not in answer:
            connection.close()
            self._give_up(str(answer.get("error", "the fork server refused to fork")))
            return None
        process = ForkedProcess(int(answer["pid"]), connection)
        process._buffer = rest
        return process

    def _wait_ready(self) -> bool:
        """Block until the server has preloaded (once); decide whether cells can be forked."""
        with self._ready_lock:
            if self._usable is None:
                self._usable = self._read_ready()
            return self._usable

    def _read_ready(self) -> bool:
        assert self._server.stdout is not None
        line = _readline_with_timeout(self._server.stdout, READY_TIMEOUT_S)
        try:
            self.ready = json.loads(line) if line else {}
        except ValueError:
            self.ready = {}
        if self.cancelled.is_set():
            return False
        if not self.ready.get("ready"):
            code = self._server.poll()
            self._fall_back(f"the fork server did not start (exit code {code}; see its log)")
            return False
        if not self.ready.get("fork_safe"):
            self._fall_back(str(self.ready.get("reason")))
            return False
        return True

    def _give_up(self, reason: str) -> None:
        with self._ready_lock:
            if self._usable:
                self._usable = False
                self._fall_back(reason)

    def _fall_back(self, reason: str) -> None:
        self.isolation = f"spawn: {reason}"
        self._stop_server()

    def cancel_all(self) -> None:
        """Stop every running cell (their results become `interrupted`)."""
        super().cancel_all()
        if self._usable is None:  # still preloading: stop it, so that waiting slots return at once
            with contextlib.suppress(OSError):
                self._server.kill()
        with self._lock:
            running = list(self._running.values())
        for process in running:
            kill_group(process)
        self._fallback.cancel_all()

    def close(self) -> None:
        """Stop the server (it kills any child left) and remove its socket."""
        self._stop_server()
        self._log.close()
        shutil.rmtree(self._directory, ignore_errors=True)

    def _stop_server(self) -> None:
        if self._usable is None and self._server.poll() is None:
            # Never asked for a cell (an early server the plan did not need): it may still be preloading and
            # would read the EOF below only after that. It has no children yet; stop it now.
            kill_group(self._server)
        if self._server.stdin is not None and not self._server.stdin.closed:
            with contextlib.suppress(OSError):
                self._server.stdin.close()  # EOF: the server kills its children and exits
        try:
            self._server.wait(timeout=10.0)
        except subprocess.TimeoutExpired:
            kill_group(self._server)
        if self._server.stdout is not None:
            self._server.stdout.close()


def _read_line(connection: socket.socket) -> tuple[bytes, bytes]:
    """One line from the socket, and whatever arrived after it."""
    data = b""
    while b"\n" not in data:
        chunk = connection.recv(4096)
        if not chunk:
            raise ValueError("connection closed")
        data += chunk
    line, rest = data.split(b"\n", 1)
    return line, rest


def _readline_with_timeout(stream: IO[bytes], timeout_s: float) -> bytes:
    """readline() that gives up after ``timeout_s`` (a stuck preload must not hang the run)."""
    result: list[bytes] = []
    reader = threading.Thread(target=lambda: result.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout_s)
    return result[0] if result else b""
