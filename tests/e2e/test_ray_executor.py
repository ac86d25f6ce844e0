"""The Ray executor on a real local multi-node cluster whose nodes offer different resources.

Cells are real (the spawn launcher, the real worker, real faults injected through the `inject` axis,
so they end in a second instead of training for minutes); only the nodes' offers are test documents.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from qlora_check.doctor.host_view import detect_host_capabilities
from qlora_check.execution.job import CellJob
from qlora_check.execution.resources import demand_for
from qlora_check.execution.run import RunOptions, run_matrix
from qlora_check.matrix.cell import Cell
from qlora_check.reports.finish import finish_run
from qlora_check.results.models import CellResult, Status
from qlora_check.results.store import read_results
from qlora_check.scaleout.reaper import TOKEN_VARIABLE
from tests.conftest import pythonpath_env, write_matrix
from tests.e2e.ray_support import doctor_document, ray_cluster

pytest.importorskip("ray")

NODE_A = doctor_document("node-a", families=[("mlx", "mlx")])  # the head
NODE_C = doctor_document("node-c", backends=["cpu"], families=[("cpu", "bnb")])
NODE_D = doctor_document("node-d", backends=["cpu"], families=[("cpu", "bnb")])
CAN_RUN = {  # which hosts may run a cell, by what it needs
    "any": {"node-a", "node-c", "node-d"},
    "mlx": {"node-a"},
    "bnb": {"node-c", "node-d"},
}


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    with ray_cluster([NODE_A, NODE_C, NODE_D]) as running:
        yield running


def job(tmp_path: Path, timeout: float = 60, **values: Any) -> CellJob:
    cell = Cell.from_values({"steps": 4, **values})
    return CellJob(cell, tmp_path / "work" / cell.id, tmp_path / "logs" / f"{cell.id}.log", timeout, demand_for(cell))


def run_jobs(jobs: list[CellJob], **kwargs: Any) -> dict[str, CellResult]:
    from qlora_check.scaleout.executor import RayExecutor

    results: dict[str, CellResult] = {}

    def record(result: CellResult) -> None:
        assert result.cell_id not in results or not results[result.cell_id].status.is_final
        results[result.cell_id] = result

    interrupted = RayExecutor(**kwargs).run(jobs, record, lambda event: None)
    assert not interrupted
    return results


def reaper_marked_processes() -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter():
        try:
            if process.environ().get(TOKEN_VARIABLE):
                found.append(process)
        except (psutil.Error, OSError):
            continue
    return found


POOL_MATRIX = """
version: 1
name: pool
axes:
  backend: [cpu]
  quantizer: [none]
  train_type: [lora]
  steps: [4]
  inject: [raise, hang]
include:
  - {backend: mlx, quantizer: mlx-4bit, train_type: qlora, inject: raise}
  - {backend: cpu, quantizer: bnb-nf4, train_type: qlora, inject: raise}
  - {backend: cuda, quantizer: none, train_type: lora, inject: none}
  - {backend: mlx, quantizer: bnb-nf4, train_type: qlora, inject: none}
  - {backend: cpu, quantizer: none, train_type: qlora, inject: none}
settings:
  timeout: 4
"""


def test_a_matrix_over_the_pool_runs_each_cell_where_it_can_and_skips_the_rest(cluster: Any, tmp_path: Path) -> None:
    from qlora_check.scaleout.executor import RayExecutor

    options = RunOptions(matrix_path=write_matrix(tmp_path, POOL_MATRIX), root=tmp_path / "reports")
    outcome = run_matrix(options, host=detect_host_capabilities(), executor=RayExecutor())
    finish_run(outcome.run_dir, None, outcome.interrupted)
    assert len(outcome.results) == 7
    by_label = {result.label: result for result in outcome.results.values()}
    cuda = by_label["cuda/none/lora/fp32/adamw/constant"]
    assert cuda.status is Status.SKIP
    assert cuda.reason == "no node offers backend cuda (3 live node(s) in the Ray cluster)"
    assert by_label["cpu/none/qlora/fp32/adamw/constant"].status is Status.NOT_APPLICABLE
    assert by_label["mlx/bnb-nf4/qlora/fp32/adamw/constant"].status is Status.NOT_APPLICABLE
    needs = {"cpu/none/lora": "any", "mlx/mlx-4bit/qlora": "mlx", "cpu/bnb-nf4/qlora": "bnb"}
    hosts = set()
    for result in outcome.results.values():
        if result.status in (Status.SKIP, Status.NOT_APPLICABLE):
            assert result.node is None
            continue
        need = needs["/".join(result.label.split("/")[:3])]
        node = result.node or {}
        assert node["host"] in CAN_RUN[need], (result.label, node)
        assert node["fingerprint"] == f"fp-{node['host']}" and node["libraries"]["torch"]
        hosts.add(node["host"])
        log = outcome.run_dir / "logs" / f"{result.cell_id}.log"
        assert Path(result.log_path or "") == log and log.read_text()  # the node's log, in the driver's run
        if "inject=hang" in result.label:  # the cell's own limit, inside the task, as in a local run
            assert result.status is Status.TIMEOUT and "4 s timeout" in result.reason
        else:  # the worker itself ran on the node and recorded the injected fault
            assert result.status is Status.ERROR and "injected fault: raise" in result.reason
    report = json.loads((outcome.run_dir / "report.json").read_text())
    assert {node["host"] for node in report["nodes"]["hosts"]} == hosts and len(hosts) >= 2
    html = (outcome.run_dir / "report.html").read_text()
    assert all(host in html for host in hosts)
    run_document = json.loads((outcome.run_dir / "run.json").read_text())
    assert run_document["settings"]["isolation"] == "ray"
    assert {node["host"] for node in run_document["executor"]["nodes"]} == {"node-a", "node-c", "node-d"}


def test_a_cell_whose_nodes_die_is_replaced_once_then_crashes_as_node_lost(cluster: Any, tmp_path: Path) -> None:
    hang = job(tmp_path, timeout=300, backend="cpu", quantizer="bnb-nf4", train_type="qlora", inject="hang")
    healthy = job(tmp_path, backend="mlx", quantizer="mlx-4bit", train_type="qlora", inject="raise")
    placements: list[str] = []

    def kill_its_node(cell: Cell, node: dict[str, Any]) -> None:
        if cell.id != hang.cell.id:
            return
        placements.append(node["host"])
        time.sleep(1.0)  # let the cell's process start, so there is something to reap
        for candidate in cluster.list_all_nodes():
            if candidate.node_id == node["node_id"]:
                cluster.remove_node(candidate, allow_graceful=False)

    results = run_jobs([hang, healthy], on_placed=kill_its_node)
    assert sorted(placements) == ["node-c", "node-d"]  # placed, lost, re-placed on the other one, lost
    lost = results[hang.cell.id]
    assert lost.status is Status.CRASH and lost.reason.startswith("node lost")
    assert [entry["host"] for entry in (lost.node or {})["replaced_after"]] == placements[:1]
    assert results[healthy.cell.id].status is Status.ERROR  # 0 results lost
    deadline = time.monotonic() + 30
    while reaper_marked_processes() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert reaper_marked_processes() == []  # the hanging cells (and their grandchildren) were reaped


def test_the_driver_cancels_a_task_that_outlives_its_timeout_and_the_cell_is_reaped(
    cluster: Any, tmp_path: Path
) -> None:
    # A negative grace makes the driver's deadline (timeout + grace) come before the cell's own limit, so the
    # driver's path is the one taken: ray.cancel(force=True), then the reaper for the cell's processes.
    hang = job(tmp_path, timeout=30, backend="cpu", inject="hang")
    started = time.monotonic()
    result = run_jobs([hang], grace_s=-27)[hang.cell.id]
    assert result.status is Status.TIMEOUT and "the driver cancelled the Ray task" in result.reason
    assert time.monotonic() - started < 30  # well before the cell's own 30 s limit
    deadline = time.monotonic() + 30
    while reaper_marked_processes() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert reaper_marked_processes() == []


HANG_MATRIX = """
version: 1
name: interrupted
axes:
  backend: [cpu]
  train_type: [lora]
  inject: [hang]
  seed: [0, 1]
settings:
  timeout: 300
"""


def started_cells() -> list[psutil.Process]:
    return [process for process in reaper_marked_processes() if "qlora_check.execution.worker" in process.cmdline()]


def test_ctrl_c_cancels_the_pool_s_cells_and_leaves_a_resumable_run(cluster: Any, tmp_path: Path) -> None:
    out = tmp_path / "run"
    command = [sys.executable, "-m", "qlora_check", "run", str(write_matrix(tmp_path, HANG_MATRIX)), "--out", str(out)]
    env = {**pythonpath_env(), "RAY_ADDRESS": ""}
    process = subprocess.Popen([*command, "--ray", cluster.address], env=env, stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while len(started_cells()) < 2 and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.5)
        assert len(started_cells()) == 2
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, output
    assert json.loads((out / "run.json").read_text())["status"] == "interrupted"
    final = read_results(out).final()
    assert [result.status for result in final.values()] == [Status.INTERRUPTED] * 2  # --resume runs them again
    deadline = time.monotonic() + 30
    while reaper_marked_processes() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert reaper_marked_processes() == []
