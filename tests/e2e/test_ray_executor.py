"""The Ray executor on a real local multi-node cluster whose nodes offer different resources.

Cells are real (the spawn launcher, the real worker, real faults injected through the `inject` axis,
so they end in a second instead of training for minutes); only the nodes' offers are test documents.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from qlora_check.execution.job import CellJob
from qlora_check.execution.resources import demand_for
from qlora_check.matrix.cell import Cell
from qlora_check.results.models import CellResult, Status
from qlora_check.scaleout.reaper import TOKEN_VARIABLE
from tests.e2e.ray_support import doctor_document, ray_cluster

pytest.importorskip("ray")

NODE_A = doctor_document("node-a")
NODE_B = doctor_document("node-b", families=[("mlx", "mlx")])
NODE_C = doctor_document("node-c", backends=["cpu"], families=[("cpu", "bnb")])
NODE_D = doctor_document("node-d", backends=["cpu"], families=[("cpu", "bnb")])
CAN_RUN = {  # which hosts may run a cell, by what it needs
    "any": {"node-a", "node-b", "node-c", "node-d"},
    "mlx": {"node-b"},
    "bnb": {"node-c", "node-d"},
}


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    with ray_cluster([NODE_A, NODE_B, NODE_C, NODE_D]) as running:
        yield running


def job(tmp_path: Path, timeout: float = 60, **values: Any) -> CellJob:
    cell = Cell.from_values({"steps": 4, **values})
    return CellJob(cell, tmp_path / "work" / cell.id, tmp_path / "logs" / f"{cell.id}.log", timeout, demand_for(cell))


def run(jobs: list[CellJob], **kwargs: Any) -> dict[str, CellResult]:
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


def test_each_cell_runs_on_a_node_that_offers_what_it_needs(cluster: Any, tmp_path: Path) -> None:
    from qlora_check.scaleout.executor import RayExecutor

    wanted = {
        "any": job(tmp_path, backend="cpu", inject="raise"),
        "mlx": job(tmp_path, backend="mlx", quantizer="mlx-4bit", train_type="qlora", inject="raise"),
        "bnb": job(tmp_path, backend="cpu", quantizer="bnb-nf4", train_type="qlora", inject="raise"),
    }
    impossible = [
        job(tmp_path, backend="cuda"),
        job(tmp_path, backend="mlx", quantizer="bnb-nf4", train_type="qlora"),
    ]
    reasons = RayExecutor().skip_reasons([entry.cell for entry in [*wanted.values(), *impossible]])
    assert reasons == {
        impossible[0].cell.id: "no node offers backend cuda (4 live node(s) in the Ray cluster)",
        impossible[1].cell.id: "no node offers backend mlx + bnb (4 live node(s) in the Ray cluster)",
    }
    results = run(list(wanted.values()))
    for need, entry in wanted.items():
        result = results[entry.cell.id]
        # The worker itself ran and recorded the injected fault: the cell really ran, on an eligible node.
        assert result.status is Status.ERROR and "injected fault: raise" in result.reason
        node = result.to_dict().get("node") or {}
        assert node["host"] in CAN_RUN[need], (need, node)
        assert node["fingerprint"] == f"fp-{node['host']}"
        assert node["libraries"]["torch"]  # the versions the node itself reported
        log = Path(result.log_path or "")
        assert log.parent == tmp_path / "logs" and "injected fault: raise" in log.read_text()


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

    results = run([hang, healthy], on_placed=kill_its_node)
    assert sorted(placements) == ["node-c", "node-d"]  # placed, lost, re-placed on the other one, lost
    lost = results[hang.cell.id]
    assert lost.status is Status.CRASH and lost.reason.startswith("node lost")
    assert [entry["host"] for entry in (lost.to_dict()["node"]["replaced_after"])] == placements[:1]
    assert results[healthy.cell.id].status is Status.ERROR  # 0 results lost
    deadline = time.monotonic() + 30
    while reaper_marked_processes() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert reaper_marked_processes() == []  # the hanging cells (and their grandchildren) were reaped
