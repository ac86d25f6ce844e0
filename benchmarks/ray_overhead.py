"""Ray dispatch overhead per cell: the same tiny cells run locally (the spawn launcher, one at a time) and
through the Ray executor on a local one-CPU head (one at a time as well), in one invocation.

    PYTHONPATH=$PWD python benchmarks/ray_overhead.py                  # 12 cells per round, 3 rounds
    PYTHONPATH=$PWD python benchmarks/ray_overhead.py --cells 20 --rounds 5 --out /tmp/ray.json

A tiny cell is the real worker in a fresh interpreter ending at once (the `inject: raise` fault), so what
differs between the two sides is only what Ray adds: task submission, placement, the task's two streamed
items, the reaper's two lines and the log's way back. Each cell's own process time (`wall_s`, measured
by the launcher around the child, on either side) is subtracted from each side's wall time, so the
noise of a loaded machine in starting interpreters cancels: a side's harness time = its wall - the sum
of its cells' `wall_s`, and Ray's dispatch overhead per cell = (Ray's harness time - local harness
time) / cells. Rounds alternate local and Ray; the median of the rounds is reported. Starting the head
(once) and the first task of a worker (Ray starts worker processes lazily; one warm-up cell absorbs it)
are reported separately, not charged to cells. Target: <= 50 ms per cell.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from qlora_check.events import ignore
from qlora_check.execution.job import CellJob
from qlora_check.execution.launchers.spawn import SpawnLauncher
from qlora_check.execution.resources import demand_for
from qlora_check.matrix.cell import Cell
from qlora_check.results.models import CellResult
from qlora_check.scaleout.node_resources import node_offer

TARGET_MS = 50.0


def jobs(directory: Path, count: int, tag: str) -> list[CellJob]:
    cells = [Cell.from_values({"backend": "cpu", "inject": "raise", "seed": index}) for index in range(count)]
    return [
        CellJob(cell, directory / tag / cell.id, directory / tag / f"{cell.id}.log", 120, demand_for(cell))
        for cell in cells
    ]


def harness_time(wall: float, results: list[CellResult]) -> tuple[float, float]:
    """(wall, wall minus the cells' own process time)."""
    assert [result.status.value for result in results] == ["error"] * len(results)
    return wall, wall - sum(result.timings["wall_s"] for result in results)


def run_local(batch: list[CellJob]) -> tuple[float, float]:
    started = time.perf_counter()
    with SpawnLauncher() as launcher:
        results = [launcher.run(job) for job in batch]
    return harness_time(time.perf_counter() - started, results)


def run_ray(batch: list[CellJob], executor: Any) -> tuple[float, float]:
    results: list[CellResult] = []
    started = time.perf_counter()
    executor.run(batch, results.append, ignore)
    return harness_time(time.perf_counter() - started, results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/ray_overhead.json"))
    args = parser.parse_args()

    import ray

    from qlora_check.scaleout.executor import RayExecutor

    load_before = os.getloadavg()
    directory = Path(tempfile.mkdtemp(prefix="qc-ray-bench-"))
    ray_tmp = None if "RAY_TMPDIR" in os.environ else tempfile.mkdtemp(prefix="qcrb", dir="/tmp")  # short paths
    if ray_tmp is not None:
        os.environ["RAY_TMPDIR"] = ray_tmp
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    document = {
        "schema_version": 1,
        "host": {"hostname": platform.node()},
        "working_backends": ["cpu"],
        "backends": {"cpu": {"available": True}},
    }
    offer = node_offer(document)
    started = time.perf_counter()
    ray.init(
        address="local",
        num_cpus=1,  # one cell at a time, as on the local side
        resources=offer.resources,
        labels=offer.labels,
        include_dashboard=False,
        log_to_driver=False,
        object_store_memory=80 * 2**20,
    )
    head_s = time.perf_counter() - started
    try:
        executor = RayExecutor()
        warm_up_s = run_ray(jobs(directory, 1, "warm"), executor)[0]
        rounds = []
        for index in range(args.rounds):
            local_s, local_harness = run_local(jobs(directory, args.cells, f"local{index}"))
            ray_s, ray_harness = run_ray(jobs(directory, args.cells, f"ray{index}"), executor)
            overhead_ms = (ray_harness - local_harness) / args.cells * 1e3
            rounds.append(
                {
                    "local_wall_s": round(local_s, 3),
                    "ray_wall_s": round(ray_s, 3),
                    "local_harness_ms_per_cell": round(local_harness / args.cells * 1e3, 1),
                    "ray_harness_ms_per_cell": round(ray_harness / args.cells * 1e3, 1),
                    "overhead_ms": round(overhead_ms, 1),
                }
            )
            print(
                f"round {index + 1}: {args.cells} cells, wall local {local_s:.2f} s / ray {ray_s:.2f} s;"
                f" harness per cell local {rounds[-1]['local_harness_ms_per_cell']} ms /"
                f" ray {rounds[-1]['ray_harness_ms_per_cell']} ms: Ray adds {overhead_ms:+.1f} ms per cell"
            )
    finally:
        ray.shutdown()
        shutil.rmtree(directory, ignore_errors=True)
        if ray_tmp is not None:
            shutil.rmtree(ray_tmp, ignore_errors=True)
    median = statistics.median(round_["overhead_ms"] for round_ in rounds)
    figures = {
        "schema_version": 1,
        "benchmark": "ray_overhead",
        "cells_per_round": args.cells,
        "rounds": rounds,
        "median_overhead_ms_per_cell": round(median, 1),
        "target_ms_per_cell": TARGET_MS,
        "head_start_s": round(head_s, 2),
        "first_task_s": round(warm_up_s, 2),
        "ray": ray.__version__,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_before": load_before,
        "load_after": os.getloadavg(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    verdict = "within" if median <= TARGET_MS else "over"
    print(f"median dispatch overhead: {median:.1f} ms per cell ({verdict} the {TARGET_MS:g} ms target)")
    print(f"head start {head_s:.1f} s, first task {warm_up_s:.1f} s (not charged to cells); wrote {args.out}")
    sys.exit(0)


if __name__ == "__main__":
    main()
