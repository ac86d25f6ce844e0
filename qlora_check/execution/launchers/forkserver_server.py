"""The fork server process: imports the heavy modules once, then forks one fresh child per cell.

Started by the harness as ``python -m qlora_check.execution.launchers.forkserver_server --socket PATH
--preload MOD,...``, never forked from the harness (which has threads: forking a multi-threaded
process can deadlock the child). It stays single-threaded for its whole life: compute threads are
pinned to one before torch is imported, and it checks its own thread count before every fork,
because libgomp hangs a child forked after a multi-threaded op.

Protocol (one JSON line per message):
- on start, over the inherited stdout pipe, once: ``{"ready": true, "fork_safe": bool, "reason": ...,
  "preloaded": [...], "failed": {...}, "preload_s": ..., "warmup_s": ..., "torch_imported": bool}``;
  the server's own stdout is then pointed at its stderr so stray prints cannot corrupt the channel.
- per child, over a new connection to the Unix socket: the harness sends ``{"entry": MODULE, "args": [...],
  "log": PATH, "env": {...}, "threads": N}``; the server answers ``{"pid": PID}`` (or ``{"error": ...}``) as soon
  as the child exists, and ``{"status": WAIT_STATUS}`` when it has reaped it, then closes.
- EOF on stdin (the harness closed the pipe or died): kill every child's group and exit.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import json
import os
import selectors
import signal
import socket
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from qlora_check.fileio import redirect_to_log
from qlora_check.forking import fork_safety
from qlora_check.host import THREAD_VARIABLES

WHO = "the fork server"


def pin_threads() -> None:
    """One compute thread, set before torch is imported (libgomp reads the variables once)."""
    for name in THREAD_VARIABLES:
        os.environ[name] = "1"
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    # is_available() through NVML, so a preload never initialises CUDA in the server.
    os.environ["PYTORCH_NVML_BASED_CUDA_CHECK"] = "1"


def preload(modules: list[str]) -> tuple[list[str], dict[str, str]]:
    """Import ``modules``; a failure is recorded, not fatal (the cell will report it itself)."""
    loaded: list[str] = []
    failed: dict[str, str] = {}
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as exc:  # any import failure: the cell's own import will report it properly
            failed[name] = f"{type(exc).__name__}: {exc}"
            continue
        loaded.append(name)
        if name == "torch":
            torch = sys.modules["torch"]
            torch.set_num_threads(1)
            with contextlib.suppress(RuntimeError):
                torch.set_num_interop_threads(1)
    return loaded, failed


def warm_up(engines: list[str]) -> None:
    """Run one tiny real cell per engine in this process, single-threaded, so that lazy imports and
    first-call initialisation (Hugging Face auto classes, peft, safetensors, the optimizers) are
    paid once here instead of in every child."""
    if "tqdm" not in sys.modules:
        with contextlib.suppress(ImportError):
            importlib.import_module("tqdm")
    if "tqdm" in sys.modules:
        # tqdm's monitor is a thread: it would make the server unsafe to fork.
        sys.modules["tqdm"].tqdm.monitor_interval = 0
    from qlora_check.engines import ENGINES
    from qlora_check.execution.job import JobSpec
    from qlora_check.execution.worker import run_spec
    from qlora_check.matrix.axes import DEFAULTS

    with tempfile.TemporaryDirectory(prefix="qlora-check-warmup-") as scratch:
        for engine in engines:
            backend = ENGINES.get(engine).backends[0]
            values = {**DEFAULTS, "backend": backend, "steps": 2, "batch_size": 2, "seq_len": 8}
            work_dir = Path(scratch) / engine
            run_spec(JobSpec(values=values, work_dir=str(work_dir), result_path=str(work_dir / "result.json")))


class Server:
    """The accept / fork / reap loop. Single-threaded: signals arrive through a wakeup pipe."""

    def __init__(self, listener: socket.socket) -> None:
        self.listener = listener
        self.selector = selectors.DefaultSelector()
        self.children: dict[int, socket.socket] = {}
        self.wake_read, self.wake_write = os.pipe()
        os.set_blocking(self.wake_read, False)
        os.set_blocking(self.wake_write, False)

    def serve(self) -> None:
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)
        signal.set_wakeup_fd(self.wake_write)
        self.selector.register(self.listener, selectors.EVENT_READ, "accept")
        self.selector.register(self.wake_read, selectors.EVENT_READ, "reap")
        self.selector.register(sys.stdin.fileno(), selectors.EVENT_READ, "stdin")
        while True:
            for key, _ in self.selector.select(timeout=1.0):
                if key.data == "accept":
                    self._accept()
                elif key.data == "stdin" and not os.read(sys.stdin.fileno(), 4096):
                    self._shutdown()
                    return
                elif key.data == "reap":
                    with contextlib.suppress(BlockingIOError):
                        os.read(self.wake_read, 4096)
            self._reap()

    def _accept(self) -> None:
        connection, _ = self.listener.accept()
        connection.settimeout(10.0)
        try:
            request = json.loads(_read_line(connection))
            safe, reason = fork_safety(WHO)
            if not safe:
                _send(connection, {"error": reason})
                connection.close()
                return
            sys.stdout.flush()
            sys.stderr.flush()  # else the child would write the server's buffered output into its log
            pid = os.fork()
        except (OSError, ValueError) as exc:
            with contextlib.suppress(OSError):
                _send(connection, {"error": f"{type(exc).__name__}: {exc}"})
            connection.close()
            return
        if pid == 0:
            self._become_cell(request, connection)
        with contextlib.suppress(OSError):
            os.setpgid(pid, pid)  # also done by the child: whichever runs first closes the race
        self.children[pid] = connection
        try:
            _send(connection, {"pid": pid})
        except OSError:
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)

    def _become_cell(self, request: dict[str, Any], connection: socket.socket) -> None:
        """In the forked child: own process group, own log, own environment and threads; run; exit."""
        code = 1
        try:
            os.setpgid(0, 0)
            signal.set_wakeup_fd(-1)
            for signum in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM, signal.SIGPIPE):
                signal.signal(signum, signal.SIG_DFL)
            self.selector.close()
            for held in (self.listener, connection, *self.children.values()):
                held.close()
            for descriptor in (self.wake_read, self.wake_write):
                os.close(descriptor)
            redirect_to_log(request["log"])
            os.environ.clear()
            os.environ.update(request["env"])
            torch = sys.modules.get("torch")
            if torch is not None:
                torch.set_num_threads(max(1, int(request["threads"])))
            # The same entry point a spawned child runs as `python -m ENTRY ARGS`: its main(ARGS).
            code = int(importlib.import_module(request["entry"]).main(list(request["args"])) or 0)
        except BaseException:  # everything ends in os._exit below: a child must never return into the server
            traceback.print_exc()
        finally:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(code)

    def _reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            connection = self.children.pop(pid, None)
            if connection is not None:
                with contextlib.suppress(OSError):
                    _send(connection, {"status": status})
                connection.close()

    def _shutdown(self) -> None:
        for pid in list(self.children):
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5.0
        while self.children and time.monotonic() < deadline:
            self._reap()
            time.sleep(0.01)


def _read_line(connection: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = connection.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def _send(connection: socket.socket, message: dict[str, Any]) -> None:
    connection.sendall(json.dumps(message).encode("utf-8") + b"\n")



def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="qlora_check.execution.launchers.forkserver_server")
    parser.add_argument("--socket", required=True)
    parser.add_argument("--preload", default="")
    parser.add_argument("--warmup", default="", help="engines to warm up with a tiny in-process cell")
    args = parser.parse_args(argv)
    channel = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # stray prints from libraries go to the server's log, never into the channel
    pin_threads()
    started = time.perf_counter()
    loaded, failed = preload([name for name in args.preload.split(",") if name])
    preload_s = time.perf_counter() - started
    started = time.perf_counter()
    try:
        warm_up([name for name in args.warmup.split(",") if name])
    except Exception:  # a failed warm-up only costs speed; the cells will show the real error
        traceback.print_exc()
    warmup_s = time.perf_counter() - started
    gc.collect()
    gc.freeze()  # children's collections skip the preloaded objects: fewer copy-on-write page faults
    safe, reason = fork_safety(WHO)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(args.socket)
    listener.listen(64)
    ready = {
        "ready": True,
        "pid": os.getpid(),
        "fork_safe": safe,
        "reason": reason,
        "preloaded": loaded,
        "failed": failed,
        "preload_s": preload_s,
        "warmup_s": warmup_s,
        "torch_imported": "torch" in sys.modules,
    }
    channel.write(json.dumps(ready) + "\n")
    channel.flush()
    sys.stderr.write(f"qlora-check fork server ready: {json.dumps(ready)}\n")
    sys.stderr.flush()
    if not safe:
        return 0
    Server(listener).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
