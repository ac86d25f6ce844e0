"""A whole run through the fork server: --jobs 1 and --jobs 2 give the same results."""

from __future__ import annotations

import json
from pathlib import Path

import psutil
import pytest

from qlora_check.doctor.host_view import detect_host_capabilities
from qlora_check.errors import QloraCheckError
from qlora_check.execution.run import RunOptions, run_matrix
from qlora_check.results.models import Status
from tests.conftest import run_and_report, write_matrix

pytestmark = pytest.mark.slow

MATRIX = """
version: 1
name: parallel-parity
axes:
  backend: [cpu]
  train_type: [lora, full]
  seed: [0, 1]
  steps: 12
include:
  - {train_type: lora, seed: 5, inject: segfault}
settings:
  timeout: 120
"""


def test_serial_and_parallel_runs_agree(tmp_path: Path, reports_root: Path) -> None:
    matrix = write_matrix(tmp_path, MATRIX)
    serial = run_and_report(RunOptions(matrix, out=tmp_path / "serial", root=reports_root, jobs=1))
    parallel = run_and_report(RunOptions(matrix, out=tmp_path / "parallel", root=reports_root, jobs=2))
    assert serial.results.keys() == parallel.results.keys()
    assert len(serial.results) == 5
    for cell_id, one in serial.results.items():
        two = parallel.results[cell_id]
        assert one.status == two.status, one.label
        assert one.losses == two.losses, one.label  # bit for bit: same seeds, one thread each
        assert one.lrs == two.lrs, one.label
    statuses = sorted(result.status.value for result in serial.results.values())
    assert statuses == [Status.CRASH.value] + [Status.PASS.value] * 4
    for outcome in (serial, parallel):
        settings = json.loads((outcome.run_dir / "run.json").read_text())["settings"]
        assert settings["isolation"] == "forkserver"
        assert all(r.engine.get("threads") == 1 for r in outcome.results.values() if r.status is Status.PASS)
        assert (outcome.run_dir / "logs" / "forkserver.log").exists()


def _fork_servers() -> list[psutil.Process]:
    children = psutil.Process().children(recursive=True)
    return [child for child in children if "forkserver_server" in " ".join(child.cmdline())]


def test_a_plan_that_fails_closes_the_early_fork_server_and_leaves_no_run_directory(tmp_path: Path) -> None:
    # The server starts before the plan (it preloads while a covering array is computed); `--cells` naming an
    # id the matrix does not have is found only after planning, with the server already running.
    matrix = write_matrix(tmp_path, MATRIX)
    out = tmp_path / "never"
    with pytest.raises(QloraCheckError, match="--cells names 1 id"):
        run_matrix(RunOptions(matrix, out=out, cells=("0123456789ab",)), host=detect_host_capabilities())
    assert _fork_servers() == []
    assert not out.exists()
