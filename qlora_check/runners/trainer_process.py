"""Running a trainer command: argv (never a shell), its output to one file, a limit, whole-tree peak memory.

The trainer stays in the worker's process group, so when the launcher kills a cell (its own limit,
Ctrl-C) the trainer dies with it. The runner's own `timeout` ends the trainer's whole process tree
(terminate, then kill). Peak memory is the largest sum of resident memory over the trainer and all its
descendants (torchrun, accelerate launch and DataLoader workers are children), sampled by a thread
(pyperf's approach); on CUDA, NVML's per-process GPU memory for the same pids when pynvml is installed.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

SAMPLE_INTERVAL_S = 0.05
TERMINATE_GRACE_S = 5.0
MB = 1024 * 1024


@dataclass(frozen=True)
class TrainerOutcome:
    """How the trainer process ended and what it used."""

    returncode: int | None  # negative: killed by that signal (POSIX)
    timed_out: bool
    duration_s: float
    peak_rss_mb: float
    peak_gpu_mb: float | None = None
    samples: int = 0
    not_started: str | None = None  # why the command could not start (not found, not executable)
    extra: dict[str, Any] = field(default_factory=dict)


def _tree(root: psutil.Process) -> list[psutil.Process]:
    try:
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def _rss(processes: list[psutil.Process]) -> int:
    total = 0
    for process in processes:
        try:
            total += process.memory_info().rss
        except psutil.Error:
            continue  # it ended between listing and reading: its memory is gone anyway
    return total


class _GpuMemory:
    """NVML per-process GPU memory of a set of pids; inert without pynvml or a GPU."""

    def __init__(self) -> None:
        self.nvml: Any = None
        try:
            import pynvml  # type: ignore[import-not-found]

            pynvml.nvmlInit()
            self.nvml = pynvml
            self.handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
        except Exception:  # no library, no driver, no device: nothing to measure
            self.nvml = None

    def used(self, pids: set[int]) -> int | None:
        if self.nvml is None:
            return None
        total = 0
        for handle in self.handles:
            try:
                running = self.nvml.nvmlDeviceGetComputeRunningProcesses(handle)
            except Exception:
                continue
            total += sum(p.usedGpuMemory or 0 for p in running if p.pid in pids)
        return total


class TreeSampler(threading.Thread):
    """Samples the peak memory of a process and its descendants until stopped."""

    def __init__(self, pid: int, gpu: bool = False) -> None:
        super().__init__(daemon=True, name="qlora-check-tree-memory")
        self.root = psutil.Process(pid)
        self.peak_rss = 0
        self.peak_gpu: int | None = None
        self.samples = 0
        self.gpu = _GpuMemory() if gpu else None
        self._stop_event = threading.Event()

    def sample(self) -> None:
        processes = _tree(self.root)
        self.peak_rss = max(self.peak_rss, _rss(processes))
        if self.gpu is not None:
            used = self.gpu.used({process.pid for process in processes})
            if used is not None:
                self.peak_gpu = max(self.peak_gpu or 0, used)
        self.samples += 1

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.sample()
            self._stop_event.wait(SAMPLE_INTERVAL_S)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=2)


def end_tree(process: subprocess.Popen[bytes]) -> None:
    """Terminate the trainer and every descendant, then kill what is left after a grace period."""
    try:
        root = psutil.Process(process.pid)
        tree = _tree(root)
    except psutil.Error:
        tree = []
    for member in reversed(tree):
        try:
            member.terminate()
        except psutil.Error:
            continue
    _gone, alive = psutil.wait_procs(tree, timeout=TERMINATE_GRACE_S)
    for member in alive:
        try:
            member.kill()
        except psutil.Error:
            continue
    process.wait()


def run_trainer(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    output: Path,
    timeout_s: float | None,
    gpu: bool = False,
) -> TrainerOutcome:
    """Run ``argv`` to its end (or its limit), stdout and stderr merged into ``output``."""
    started = time.perf_counter()
    with output.open("wb") as sink:
        try:
            process = subprocess.Popen(
                list(argv), env=dict(env), cwd=cwd, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT
            )
        except OSError as exc:  # not found, not executable, bad cwd
            reason = f"{argv[0]}: {exc.strerror or exc}"
            return TrainerOutcome(None, False, time.perf_counter() - started, 0.0, not_started=reason)
        sampler = TreeSampler(process.pid, gpu=gpu)
        sampler.start()
        timed_out = False
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            end_tree(process)
        except BaseException:  # interrupted: never leave a trainer running behind
            end_tree(process)
            raise
        finally:
            sampler.stop()
    return TrainerOutcome(
        returncode=process.returncode,
        timed_out=timed_out,
        duration_s=time.perf_counter() - started,
        peak_rss_mb=sampler.peak_rss / MB,
        peak_gpu_mb=None if sampler.peak_gpu is None else sampler.peak_gpu / MB,
        samples=sampler.samples,
    )


def output_tail(path: Path, lines: int = 30, max_chars: int = 4000) -> str:
    """The last lines of the trainer's output, progress-bar frames folded, for an error's detail."""
    from qlora_check.runners.readers.text import console_lines

    return "\n".join(console_lines(path)[-lines:])[-max_chars:]
