"""The cost of a two-rank cell: its wall time (ranks + single-process reference + checks) against the same
cell with one process, both in one run through the real pipeline (fork server, worker, forked ranks).

    PYTHONPATH=$PWD python benchmarks/distributed_overhead.py                  # lora, seeds 0-2, ddp and fsdp2
    PYTHONPATH=$PWD python benchmarks/distributed_overhead.py --seeds 2 --strategies ddp --out /tmp/d.json

Target (issue 15): a two-rank cell's wall <= 2.5x the one-process cell's. The cells run one at a time (a
two-rank cell holds both threads of a two-core budget), interleaved by seed, so machine noise falls on all
of them alike. The JSON records the load average before and after, and every cell's wall and phases.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from qlora_check.doctor.host_view import detect_host_capabilities
from qlora_check.execution.run import RunOptions, run_matrix
from qlora_check.results.models import CellResult

MATRIX = """version: 1
name: distributed-overhead
description: one-process and two-rank LoRA cells, for measuring the cost of ranks
axes:
  backend: [cpu]
  train_type: [lora]
  distributed: [none]  # an axis, so each include below (distributed: ddp ...) is a cell of its own
  world_size: [1]
  seed: {seeds}
  steps: {steps}
  max_grad_norm: 0.0
include:
{includes}
settings:
  timeout: 600
"""
TARGET = 2.5


def matrix_text(seeds: int, steps: int, strategies: list[str]) -> str:
    includes = [
        f"  - {{backend: cpu, train_type: lora, seed: {seed}, steps: {steps}, max_grad_norm: 0.0, "
        f"distributed: {strategy}, world_size: 2}}"
        for seed in range(seeds)
        for strategy in strategies
    ]
    return MATRIX.format(seeds=list(range(seeds)), steps=steps, includes="\n".join(includes))


def wall(result: CellResult) -> float:
    return float(result.timings.get("wall_s", 0.0))


def summarise(results: list[CellResult], strategies: list[str]) -> dict[str, Any]:
    single = [wall(r) for r in results if r.values["distributed"] == "none" and r.status.value == "pass"]
    figures: dict[str, Any] = {"single_wall_s": single, "single_median_s": statistics.median(single)}
    for strategy in strategies:
        ranked = [r for r in results if r.values["distributed"] == strategy]
        walls = [wall(r) for r in ranked if r.status.value == "pass"]
        figures[strategy] = {
            "walls_s": walls,
            "median_s": statistics.median(walls) if walls else None,
            "ratio": statistics.median(walls) / figures["single_median_s"] if walls else None,
            "statuses": [r.status.value for r in ranked],
            "ranks_s": [r.timings.get("ranks_s") for r in ranked],
            "ranks_start_s": [r.timings.get("ranks_start_s") for r in ranked],
            "reference_train_s": [r.timings.get("reference_train_s") for r in ranked],
            "launch": sorted({str(r.engine.get("distributed", {}).get("launch")) for r in ranked}),
        }
    return figures


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--strategies", default="ddp,fsdp2")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    strategies = [name for name in args.strategies.split(",") if name]
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="qlora-check-distributed-bench-") as scratch:
        root = Path(scratch)
        matrix = root / "matrix.yaml"
        matrix.write_text(matrix_text(args.seeds, args.steps, strategies), encoding="utf-8")
        started = time.perf_counter()
        outcome = run_matrix(
            RunOptions(matrix_path=matrix, root=root / "runs", jobs=2), host=detect_host_capabilities()
        )
        run_s = time.perf_counter() - started
    figures = summarise(list(outcome.results.values()), strategies)
    figures.update(run_s=run_s, load_before=load_before, load_after=os.getloadavg(), target_ratio=TARGET)
    lines = [f"one process: median wall {figures['single_median_s']:.2f} s over {len(figures['single_wall_s'])} cells"]
    for strategy in strategies:
        entry = figures[strategy]
        if entry["median_s"] is None:
            lines.append(f"{strategy}: no passing cell ({entry['statuses']})")
            continue
        verdict = "within" if entry["ratio"] <= TARGET else "ABOVE"
        lines.append(
            f"{strategy} x2 ranks: median wall {entry['median_s']:.2f} s = {entry['ratio']:.2f}x "
            f"({verdict} the {TARGET}x target; launch {','.join(entry['launch'])})"
        )
    sys.stdout.write("\n".join(lines) + f"\nload average {load_before} -> {figures['load_after']}\n")
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
