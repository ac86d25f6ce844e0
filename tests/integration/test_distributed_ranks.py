"""Multi-process cells on the CPU (gloo): the ranks agree with each other and with one process, and a rank
that crashes, raises or hangs ends the whole cell with the right status, leaving no process behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from qlora_check.distributed.launch import RANK_MARKER

pytestmark = pytest.mark.slow
DRIVER = Path(__file__).with_name("distributed_driver.py")
ROOT = Path(__file__).resolve().parents[2]
SHORT = {"world_size": 2, "steps": 8, "max_grad_norm": 0.0}


def run_cell(tmp_path: Path, **values: Any) -> dict[str, Any]:
    out = tmp_path / "outcome.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, str(DRIVER), json.dumps(values), str(out)], env=env, check=True, timeout=300)
    report: dict[str, Any] = json.loads(out.read_text())
    return report


def marked_processes(work_dir: str) -> list[int]:
    """Every process whose environment carries this cell's rank marker (ranks and what they started)."""
    needle = f"{RANK_MARKER}={work_dir}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environment = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if needle in environment.split(b"\0") and state not in ("Z", "X"):
            found.append(int(entry.name))
    return found


def assert_no_orphans(report: dict[str, Any]) -> None:
    ranks = report["ranks"] if "ranks" in report else report["distributed"]["ranks"]
    for rank in ranks:
        assert not Path(f"/proc/{rank['pid']}").exists() or _zombie(rank["pid"]), f"rank {rank} survived"
    assert marked_processes(report["work_dir"]) == []


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


@pytest.mark.parametrize("strategy", ["ddp", "fsdp", "fsdp2"])
def test_lora_ranks_agree_and_match_one_process_exactly(tmp_path: Path, strategy: str) -> None:
    report = run_cell(tmp_path, distributed=strategy, train_type="lora", **SHORT)
    assert report["status"] == "ran", report
    checks = report["checks"]
    assert checks["ranks_agree"]["passed"], checks["ranks_agree"]
    single = checks["matches_single"]
    assert single["passed"] and single["figures"]["limit"] == 0.0 and single["figures"]["max_abs_diff"] == 0.0
    assert checks["checkpoint"]["passed"] and checks["finite"]["passed"]
    assert report["distributed"]["launch"] == "fork" and report["distributed"]["backend"] == "gloo"
    per_rank = report["memory"]["per_rank"]
    assert [entry["rank"] for entry in per_rank] == [0, 1]
    assert report["memory"]["peak_rss_mb"] == max(entry["peak_rss_mb"] for entry in per_rank)
    assert_no_orphans(report)


@pytest.mark.parametrize(
    ("fault", "status"), [("segfault", "crash"), ("raise", "error"), ("hang", "timeout")]
)
def test_a_failing_rank_ends_the_cell_and_leaves_no_process(tmp_path: Path, fault: str, status: str) -> None:
    timeout_s = 30.0
    report = run_cell(tmp_path, distributed="ddp", inject=fault, timeout_s=timeout_s, **SHORT)
    assert report["status"] == status, report
    assert report["rank"] == 1 and "rank 1" in report["reason"]  # inject_rank defaults to the highest
    assert report["wall_s"] <= timeout_s + 10  # the contract: the limit plus 10 s at most
    assert_no_orphans(report)
