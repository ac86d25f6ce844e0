"""Runs one multi-process cell the way a cell's worker does (torch imported, one thread, no torch op yet),
then writes what happened as JSON: ``python tests/integration/distributed_driver.py VALUES_JSON OUT``."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

os.environ["OMP_NUM_THREADS"] = "1"

import peft  # noqa: E402,F401 - imported before forking, as the fork server preloads it
import torch  # noqa: E402,F401

from qlora_check.distributed.cell import DistributedRequest, RankFailure, run_distributed  # noqa: E402
from qlora_check.matrix.axes import DEFAULTS  # noqa: E402


def main() -> int:
    values = {**DEFAULTS, **json.loads(sys.argv[1])}
    out = Path(sys.argv[2])
    timeout_s = float(values.pop("timeout_s", 60))
    work_dir = out.parent / "cell"
    work_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    request = DistributedRequest(values, work_dir, timeout_s)
    try:
        output = run_distributed(request)
    except RankFailure as failure:
        report = {"status": failure.status.value, "rank": failure.rank, "reason": failure.reason, **failure.launch}
    else:
        checks = {check.name: {"passed": check.passed, "figures": check.figures} for check in output.checks}
        report = {"status": "ran", "checks": checks, "losses": output.losses, "memory": output.memory, **output.info}
    report["wall_s"] = time.monotonic() - started
    report["work_dir"] = str(work_dir)
    out.write_text(json.dumps(report, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
