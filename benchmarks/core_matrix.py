"""Wall time of `qlora-check run matrices/core.yaml` (pairwise over the six core axes) on this machine.

    PYTHONPATH=$PWD python benchmarks/core_matrix.py                       # 2 slots, JSON to stdout
    PYTHONPATH=$PWD python benchmarks/core_matrix.py --out benchmarks/results/core_matrix.json

The target (issue 19) is 60 s of wall time on 2 cores. The machine is often shared, so in the same
invocation the bundled smoke matrix is run first as a yardstick: its wall time on a quiet 2-core machine is
in README.md, and core / smoke is a ratio both runs paid the same load for. The load average before and
after is recorded too. Both go through the real CLI in a subprocess (`python -m qlora_check run`), so the
time includes interpreter start, planning (the covering array), the fork server's preload and the reports.
It also recomputes the pair coverage of the core axes from the run's results.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from qlora_check.matrix.axes import CORE_AXES
from qlora_check.matrix.coverage import pair_coverage, verdict_of_status
from qlora_check.matrix.loader import load_matrix
from qlora_check.results.store import read_results

REPO = Path(__file__).resolve().parent.parent


def timed_run(matrix: str, root: Path, jobs: int) -> dict[str, Any]:
    """One `qlora-check run` through the CLI: wall time, exit code, statuses, coverage of the core axes."""
    started = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, "-m", "qlora_check", "run", matrix, "--root", str(root), "--jobs", str(jobs)],
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    (run_dir,) = (root / "runs").iterdir()
    results = read_results(run_dir).final()
    ran = [(result.values, verdict_of_status(result.status.value, result.reason)) for result in results.values()]
    axes = load_matrix(REPO / "matrices" / f"{matrix}.yaml").axes
    core = {name: axes[name] for name in CORE_AXES if name in axes}
    coverage = pair_coverage(core, ran)
    return {
        "matrix": matrix,
        "wall_s": round(wall, 2),
        "exit_code": completed.returncode,
        "cells": len(results),
        "statuses": dict(Counter(result.status.value for result in results.values())),
        "cell_seconds": round(sum(result.timings.get("wall_s", 0.0) for result in results.values()), 1),
        "pairs": sum(entry.total for entry in coverage),
        "pairs_covered": sum(entry.covered for entry in coverage),
        "failing": sorted(
            f"{result.status.value}: {result.label}: {result.reason[:160]}"
            for result in results.values()
            if result.status.is_failure
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--skip-smoke", action="store_true", help="no yardstick run")
    args = parser.parse_args()
    load_before = os.getloadavg()
    runs = []
    with tempfile.TemporaryDirectory(prefix="qlora-check-bench-") as scratch:
        for matrix in ([] if args.skip_smoke else ["smoke"]) + ["core"]:
            runs.append(timed_run(matrix, Path(scratch) / matrix, args.jobs))
    figures: dict[str, Any] = {
        "schema_version": 1,
        "command": " ".join(["python", "benchmarks/core_matrix.py", *sys.argv[1:]]),
        "host": {"cpu_count": os.cpu_count(), "machine": platform.machine(), "python": platform.python_version()},
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "jobs": args.jobs,
        "target_wall_s": 60,
        "runs": runs,
    }
    if len(runs) == 2:
        figures["core_over_smoke"] = round(runs[1]["wall_s"] / runs[0]["wall_s"], 2)
    text = json.dumps(figures, indent=2)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
