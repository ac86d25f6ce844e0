"""A local multi-node Ray cluster for tests: nodes advertise what test-only doctor documents say.

Every node is a real raylet on this machine (``ray.cluster_utils.Cluster``); the documents only decide
which backends and quantizer families each node offers, through the same `node_offer` a real
`qlora-check worker` uses. Clusters are always shut down (``finally``): Ray holds ~450 MB per node.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from qlora_check.scaleout.node_resources import node_offer

REPO = Path(__file__).resolve().parents[2]
OBJECT_STORE_BYTES = 80 * 2**20


def doctor_document(
    host: str,
    backends: Sequence[str] = ("cpu", "mlx"),
    families: Sequence[tuple[str, str]] = (),
    cuda_devices: int = 0,
) -> dict[str, Any]:
    """A doctor document (the shape of `DoctorReport.to_dict`) for a node named ``host`` whose plain probe
    passed on ``backends`` and whose (backend, family) probes in ``families`` passed."""
    results = [{"backend": name, "family": "none", "status": "pass"} for name in backends]
    results += [{"backend": backend, "family": family, "status": "pass"} for backend, family in families]
    details = {"cuda": {"device_count": cuda_devices}} if cuda_devices else {}
    return {
        "schema_version": 1,
        "qlora_check_version": "0.1.0",
        "fingerprint": f"fp-{host}",
        "host": {"hostname": host, "python": {"version": "3.11.7"}},
        "backends": {name: {"name": name, "available": True, "details": details.get(name, {})} for name in backends},
        "libraries": [{"distribution": "torch", "module": "torch", "version": "2.13.0+cpu"}],
        "probes": {"source": "fresh", "results": results},
        "working_backends": list(backends),
        "ok": True,
    }


def node_args(document: dict[str, Any], cpus: int = 2) -> dict[str, Any]:
    offer = node_offer(document)
    return {
        "num_cpus": cpus,
        "resources": offer.resources,
        "labels": offer.labels,
        "object_store_memory": OBJECT_STORE_BYTES,
    }


@contextlib.contextmanager
def ray_environment() -> Iterator[Path]:
    """A short RAY_TMPDIR (Ray's socket paths must stay short), auth off, this checkout importable."""
    saved = {name: os.environ.get(name) for name in ("RAY_TMPDIR", "RAY_AUTH_MODE", "PYTHONPATH", "RAY_ADDRESS")}
    directory = Path(tempfile.mkdtemp(prefix="qcray", dir="/tmp"))
    os.environ.update(
        RAY_TMPDIR=str(directory),
        RAY_AUTH_MODE="disabled",
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), saved["PYTHONPATH"]])),
    )
    os.environ.pop("RAY_ADDRESS", None)
    try:
        yield directory
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        shutil.rmtree(directory, ignore_errors=True)


@contextlib.contextmanager
def ray_cluster(documents: Sequence[dict[str, Any]]) -> Iterator[Any]:
    """A head node (the first document) and one node per further document; the driver connected."""
    import ray
    from ray.cluster_utils import Cluster

    with ray_environment():
        head = {**node_args(documents[0]), "include_dashboard": False}
        cluster = Cluster(initialize_head=True, head_node_args=head, shutdown_at_exit=True)
        try:
            for document in documents[1:]:
                cluster.add_node(**node_args(document))
            ray.init(address=cluster.address, log_to_driver=False)
            yield cluster
        finally:
            ray.shutdown()
            cluster.shutdown()
