"""Node offers from doctor documents, cell demands as Ray resources, and feasibility against live nodes."""

from __future__ import annotations

from typing import Any

import pytest

from qlora_check.errors import QloraCheckError
from qlora_check.matrix.cell import Cell
from qlora_check.scaleout.node_resources import label_value, node_offer, offer_of_node
from qlora_check.scaleout.placement import MARKER, eligible_nodes, needs_of, skip_reason
from tests.e2e.ray_support import doctor_document


def ray_node(node_id: str, document: dict[str, Any], cpus: float = 4, gpus: float = 0, alive: bool = True) -> dict:
    """A `ray.nodes()` entry of a node started with ``document``'s offer."""
    offer = node_offer(document)
    resources = {"CPU": cpus, "memory": 8e9, **({"GPU": gpus} if gpus else {}), **offer.resources}
    return {"NodeID": node_id, "Alive": alive, "Resources": resources, "Labels": offer.labels}


def test_a_node_offers_its_working_backends_and_the_families_whose_probe_passed() -> None:
    document = doctor_document("gpu-box", backends=["cpu", "cuda"], families=[("cuda", "bnb")], cuda_devices=2)
    document["probes"]["results"].append({"backend": "cpu", "family": "bnb", "status": "fail"})
    document["backends"]["mps"] = {"name": "mps", "available": False, "details": {}}
    offer = node_offer(document)
    assert offer.resources == {
        "qc_backend_cpu": 1.0,
        "qc_backend_cuda": 2.0,  # its device count
        "qc_quant_bnb": 1.0,
        "qc_pair_cuda_bnb": 1.0,  # passed on cuda; the failed cpu probe offers nothing
    }
    assert offer.host == "gpu-box" and offer.fingerprint == "fp-gpu-box"
    assert offer.labels["qlora-check.io/lib-torch"] == "2.13.0_cpu"  # '+' is not allowed in a Ray label


def test_a_backend_whose_plain_probe_failed_offers_nothing_even_with_a_passing_family() -> None:
    document = doctor_document("box", backends=["cpu"], families=[("mlx", "mlx")])
    assert node_offer(document).resources == {"qc_backend_cpu": 1.0}


def test_a_doctor_document_newer_than_this_version_is_refused() -> None:
    with pytest.raises(QloraCheckError, match="schema_version 2"):
        node_offer({**doctor_document("box"), "schema_version": 2})


def test_label_values_follow_the_kubernetes_syntax_ray_enforces() -> None:
    assert label_value("0.2.8.post1") == "0.2.8.post1"
    assert label_value("+weird value+") == "weird_value"
    assert len(label_value("x" * 100)) == 63


def test_a_cell_asks_for_its_backend_its_family_pair_and_its_device() -> None:
    cuda = needs_of(Cell.from_values({"backend": "cuda", "quantizer": "bnb-nf4", "train_type": "qlora"}))
    assert (cuda.num_cpus, cuda.num_gpus) == (1.0, 1.0)
    assert cuda.resources == {"qc_backend_cuda": 1.0, "qc_pair_cuda_bnb": MARKER}
    cpu = needs_of(Cell.from_values({"backend": "cpu", "optimizer": "adamw_8bit"}))
    assert cpu.num_gpus == 0.0
    assert cpu.resources == {"qc_backend_cpu": MARKER, "qc_pair_cpu_bnb": MARKER}  # the optimizer's family


def test_feasibility_is_decided_against_live_nodes_up_front() -> None:
    nodes = [
        ray_node("a", doctor_document("a")),
        ray_node("b", doctor_document("b", backends=["cpu", "cuda"], families=[("cuda", "bnb")]), gpus=1),
        ray_node("c", doctor_document("c", backends=["cpu", "cuda"], families=[("cuda", "bnb")]), alive=False),
    ]
    qlora = needs_of(Cell.from_values({"backend": "cuda", "quantizer": "bnb-nf4", "train_type": "qlora"}))
    assert eligible_nodes(qlora, nodes) == ["b"]
    assert skip_reason(qlora, nodes) is None
    assert skip_reason(qlora, nodes[:1]) == "no node offers backend cuda + bnb (1 live node(s) in the Ray cluster)"
    two_ranks = needs_of(Cell.from_values({"backend": "cuda", "world_size": 2}))
    assert skip_reason(two_ranks, nodes) == "no node that offers backend cuda has 2 CPU, 2 GPU in total"


def test_a_live_node_reads_back_as_the_offer_it_was_started_with() -> None:
    document = doctor_document("a", families=[("mlx", "mlx")])
    node = ray_node("a", document)
    assert offer_of_node(node) == node_offer(document)


def test_worker_dry_run_prints_the_offer_and_the_ray_start_command(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    from typer.testing import CliRunner

    from qlora_check.cli import app
    from qlora_check.scaleout.worker_node import ray_start_argv

    document = doctor_document("gpu-box", backends=["cpu", "cuda"], families=[("cuda", "bnb")], cuda_devices=2)
    path = tmp_path / "doctor.json"
    path.write_text(json.dumps(document))
    result = CliRunner().invoke(app, ["worker", "--ray", "head:6379", "--doctor-json", str(path), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "gpu-box offers backends cpu, cuda; quantizer families bnb" in result.output
    assert "qc_backend_cuda = 2" in result.output
    argv = ray_start_argv(node_offer(document), head=False, address="head:6379", executable="ray")
    assert argv[:5] == ["ray", "start", "--block", "--disable-usage-stats", "--address=head:6379"]
    assert json.loads(argv[5].removeprefix("--resources="))["qc_pair_cuda_bnb"] == 1.0
    assert "qlora-check.io/host=gpu-box" in argv[6]
    both = CliRunner().invoke(app, ["worker", "--head", "--ray", "x:1", "--doctor-json", str(path), "--dry-run"])
    assert both.exit_code == 2
