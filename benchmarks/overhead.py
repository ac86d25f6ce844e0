"""Harness overhead: the same N-cell tiny CPU matrix run (a) with a new interpreter per cell, as a naive
harness would, and (b) with qlora-check's fork server, in one invocation, with the same slots.

    PYTHONPATH=$PWD python benchmarks/overhead.py                 # 48 cells, one slot per core
    PYTHONPATH=$PWD python benchmarks/overhead.py --cells 16 --slots 2 --out /tmp/overhead.json

Both runs go through `run_matrix` (the real pipeline: plan, scheduler, isolation, results.jsonl);
only the isolation differs ((a) sets QLORA_CHECK_ISOLATION=spawn). Definitions:

- a cell's compute: its time inside the worker (`total_s`: model build, load, adapters, training,
  checks) in run (b), where nothing is imported any more; (a) is charged against the same figure.
- per-cell launch overhead: the harness' wall time for the cell (spec written -> exit status
  classified) minus its compute, averaged.
- utilisation: sum of compute / (wall x slots), over the cell phase (first cell start to last cell
  end) and over the whole run (preload included).
- lower bound: one preload (a fork server started alone, until ready) + sum of compute / slots.

It prints a table and writes the figures as JSON. Other processes on the machine make the figures
noisy: the JSON records the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qlora_check.doctor.host_view import detect_host_capabilities
from qlora_check.events import CellFinished, Event
from qlora_check.execution.launchers.forkserver import ISOLATION_VARIABLE, ForkServerLauncher, preload_for
from qlora_check.execution.run import RunOptions, default_jobs, run_matrix
from qlora_check.host import library_versions
from qlora_check.matrix.cell import Cell
from qlora_check.reports.finish import finish_run
from qlora_check.results.models import CellResult

MATRIX = """version: 1
name: overhead-benchmark
description: tiny CPU cells for measuring the harness, not the libraries
axes:
  backend: [cpu]
  train_type: [lora, full]
  seed: {seeds}
  steps: {steps}
  batch_size: 8
  seq_len: 32
settings:
  timeout: 600
"""


@dataclass
class Timeline:
    """When each cell finished (harness clock), to place cells on the run's time line."""

    started: float = field(default_factory=time.perf_counter)
    finished: dict[str, float] = field(default_factory=dict)

    def __call__(self, event: Event) -> None:
        if isinstance(event, CellFinished):
            self.finished[event.result.cell_id] = time.perf_counter()


@dataclass
class Measured:
    wall_s: float
    results: dict[str, CellResult]
    timeline: Timeline
    isolation: str

    def cell_phase_s(self) -> float:
        """First cell start to last cell end (a cell started at its end minus its wall time)."""
        starts = [self.timeline.finished[i] - r.timings["wall_s"] for i, r in self.results.items()]
        return max(self.timeline.finished.values()) - min(starts)


def run_once(matrix: Path, root: Path, name: str, slots: int, spawn: bool) -> Measured:
    previous = os.environ.pop(ISOLATION_VARIABLE, None)
    if spawn:
        os.environ[ISOLATION_VARIABLE] = "spawn"
    timeline = Timeline()
    try:
        options = RunOptions(matrix, out=root / name, root=root, jobs=slots)
        outcome = run_matrix(options, timeline, host=detect_host_capabilities())
        finish_run(outcome.run_dir, outcome.baseline, outcome.interrupted, timeline)  # reports, as `run` writes them
    finally:
        os.environ.pop(ISOLATION_VARIABLE, None)
        if previous is not None:
            os.environ[ISOLATION_VARIABLE] = previous
    wall = time.perf_counter() - timeline.started
    settings = json.loads((outcome.run_dir / "run.json").read_text())["settings"]
    bad = {r.label: r.status.value for r in outcome.results.values() if r.status.value != "pass"}
    if bad:
        raise SystemExit(f"{name}: cells did not pass, the figures would mean nothing: {bad}")
    return Measured(wall, outcome.results, timeline, settings["isolation"])


def one_preload_s(cells: list[Cell], log: Path) -> tuple[float, dict[str, Any]]:
    """A fork server started alone, until it is ready to fork: the fixed cost a run cannot avoid."""
    started = time.perf_counter()
    modules, warmup = preload_for(cells)
    with ForkServerLauncher(modules, warmup, log) as launcher:
        launcher._wait_ready()
        elapsed = time.perf_counter() - started
        return elapsed, dict(launcher.ready)


def figures(naive: Measured, warm: Measured, slots: int, preload_s: float) -> dict[str, Any]:
    compute = {cell_id: result.timings["total_s"] for cell_id, result in warm.results.items()}
    total_compute = sum(compute.values())
    cells = len(compute)
    warm_overhead = [r.timings["wall_s"] - compute[i] for i, r in warm.results.items()]
    naive_overhead = [r.timings["wall_s"] - compute[i] for i, r in naive.results.items()]
    lower_bound = preload_s + total_compute / slots
    return {
        "cells": cells,
        "slots": slots,
        "compute_s": {
            "sum": total_compute,
            "mean_per_cell": total_compute / cells,
            "median_per_cell": statistics.median(compute.values()),
        },
        "naive": {
            "isolation": naive.isolation,
            "wall_s": naive.wall_s,
            "launch_overhead_per_cell_s": statistics.mean(naive_overhead),
            "utilisation_whole_run": total_compute / (naive.wall_s * slots),
        },
        "forkserver": {
            "isolation": warm.isolation,
            "wall_s": warm.wall_s,
            "cell_phase_s": warm.cell_phase_s(),
            "launch_overhead_per_cell_s": statistics.mean(warm_overhead),
            "launch_overhead_per_cell_max_s": max(warm_overhead),
            "launch_overhead_share_of_compute": statistics.mean(warm_overhead) / (total_compute / cells),
            "utilisation_cell_phase": total_compute / (warm.cell_phase_s() * slots),
            "utilisation_whole_run": total_compute / (warm.wall_s * slots),
        },
        "one_preload_s": preload_s,
        "lower_bound_s": lower_bound,
        "forkserver_over_lower_bound": warm.wall_s / lower_bound,
        "speedup_naive_over_forkserver": naive.wall_s / warm.wall_s,
    }


def table(result: dict[str, Any]) -> str:
    naive, warm = result["naive"], result["forkserver"]
    rows = [
        ("cells x slots", f"{result['cells']} x {result['slots']}", ""),
        ("cell compute, mean (warm)", f"{result['compute_s']['mean_per_cell'] * 1000:.0f} ms", ""),
        ("wall, whole run", f"{naive['wall_s']:.1f} s", f"{warm['wall_s']:.1f} s"),
        (
            "launch overhead per cell",
            f"{naive['launch_overhead_per_cell_s'] * 1000:.0f} ms",
            f"{warm['launch_overhead_per_cell_s'] * 1000:.1f} ms "
            f"({warm['launch_overhead_share_of_compute']:.1%} of compute)",
        ),
        ("utilisation, whole run", f"{naive['utilisation_whole_run']:.1%}", f"{warm['utilisation_whole_run']:.1%}"),
        ("utilisation, cell phase", "", f"{warm['utilisation_cell_phase']:.1%}"),
        ("one preload", "", f"{result['one_preload_s']:.2f} s"),
        (
            "lower bound (preload + compute/slots)",
            "",
            f"{result['lower_bound_s']:.2f} s (run = {result['forkserver_over_lower_bound']:.2f}x)",
        ),
        ("speed-up (a)/(b)", "", f"{result['speedup_naive_over_forkserver']:.1f}x"),
    ]
    width = max(len(row[0]) for row in rows)
    lines = [f"{'':<{width}}  {'(a) new interpreter':<22}  (b) fork server"]
    lines += [f"{name:<{width}}  {a:<22}  {b}" for name, a, b in rows]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", type=int, default=48, help="cells in the matrix (even)")
    parser.add_argument("--steps", type=int, default=12, help="optimizer steps per cell")
    parser.add_argument("--slots", type=int, default=default_jobs(), help="parallel cells (both runs)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/overhead.json"))
    parser.add_argument("--keep", type=Path, default=None, help="keep the run directories here")
    args = parser.parse_args(argv)
    if args.cells < 2 or args.cells % 2:
        parser.error("--cells must be an even number of at least 2")
    os.environ["OMP_NUM_THREADS"] = "1"
    work = args.keep or Path(tempfile.mkdtemp(prefix="qlora-overhead-"))
    matrix = work / "matrix.yaml"
    work.mkdir(parents=True, exist_ok=True)
    matrix.write_text(MATRIX.format(seeds=list(range(args.cells // 2)), steps=args.steps), encoding="utf-8")
    load_before = os.getloadavg()
    preload_s, ready = one_preload_s([Cell.from_values({"backend": "cpu"})], work / "preload.log")
    warm = run_once(matrix, work / "reports", "forkserver", args.slots, spawn=False)
    load_between = os.getloadavg()
    naive = run_once(matrix, work / "reports", "naive", args.slots, spawn=True)
    result = figures(naive, warm, args.slots, preload_s)
    result.update(
        command=" ".join(["python", "benchmarks/overhead.py", *argv]),
        host={
            "cpus": os.cpu_count(),
            "machine": platform.machine(),
            "python": platform.python_version(),
            "load_average_before": load_before,
            "load_average_between": load_between,
            "load_average_after": os.getloadavg(),
        },
        libraries={name: version for name, version in library_versions().items() if version},
        preload=ready,
    )
    print(table(result))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"\nfigures: {args.out}   run directories: {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
