"""What a Ray node offers, read from its `qlora-check doctor --json` document (the one source).

Custom resources (what placement decides on):
- ``qc_backend_<name>``: one per working backend; its amount is the backend's device count (CUDA), else 1.
- ``qc_quant_<family>``: 1 when the family's probe passed on some working backend of the node.
- ``qc_pair_<backend>_<family>``: 1 when that family's probe passed on that backend (a cell needs the pair:
  a family can work on one backend of a node and fail on another).

Labels (what people and results read): host name, doctor fingerprint, qlora-check, Python and library
versions. Ray labels follow Kubernetes' syntax, so values are made safe (``2.13.0+cpu`` -> ``2.13.0_cpu``);
results record the exact versions the cell's node reports itself.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from qlora_check.errors import QloraCheckError

PREFIX = "qc_"
BACKEND = "qc_backend_"
QUANT = "qc_quant_"
PAIR = "qc_pair_"
PLAIN_FAMILY = "none"
LABEL_PREFIX = "qlora-check.io/"
HOST_LABEL = LABEL_PREFIX + "host"
FINGERPRINT_LABEL = LABEL_PREFIX + "fingerprint"
VERSION_LABEL = LABEL_PREFIX + "version"
PYTHON_LABEL = LABEL_PREFIX + "python"
LIBRARY_LABEL = LABEL_PREFIX + "lib-"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
_DOCTOR_SCHEMA = 1


def backend_resource(backend: str) -> str:
    return f"{BACKEND}{backend}"


def family_resource(family: str) -> str:
    return f"{QUANT}{family}"


def pair_resource(backend: str, family: str) -> str:
    return f"{PAIR}{backend}_{family}"


@dataclass(frozen=True)
class NodeOffer:
    """A node's custom resources and labels, ready for `ray start` / `ray.init`."""

    resources: dict[str, float]
    labels: dict[str, str]

    @property
    def host(self) -> str:
        return self.labels.get(HOST_LABEL, "")

    @property
    def fingerprint(self) -> str:
        return self.labels.get(FINGERPRINT_LABEL, "")

    def to_dict(self) -> dict[str, Any]:
        return {"fingerprint": self.fingerprint, "resources": dict(self.resources), "labels": dict(self.labels)}

    def describe(self) -> str:
        """One line for people: the backends and families this node offers."""
        backends = [name[len(BACKEND) :] for name in self.resources if name.startswith(BACKEND)]
        families = [name[len(QUANT) :] for name in self.resources if name.startswith(QUANT)]
        return f"backends {', '.join(backends) or 'none'}; quantizer families {', '.join(families) or 'none'}"


def label_value(text: str) -> str:
    """``text`` as a valid Ray label value: at most 63 characters of [A-Za-z0-9_.-], alphanumeric at both ends."""
    safe = _UNSAFE.sub("_", text)[:63]
    return safe.strip("_.-")


def node_offer(doctor: Mapping[str, Any]) -> NodeOffer:
    """The resources and labels a node advertises, from its doctor document (`DoctorReport.to_dict`)."""
    version = doctor.get("schema_version")
    if not isinstance(version, int) or version > _DOCTOR_SCHEMA:
        raise QloraCheckError(
            f"this doctor document has schema_version {version!r}; this qlora-check reads up to {_DOCTOR_SCHEMA}",
            tip="run the same qlora-check version on every node",
        )
    working = [str(name) for name in doctor.get("working_backends", [])]
    backends: Mapping[str, Any] = doctor.get("backends", {})
    resources: dict[str, float] = {}
    for name in working:
        resources[backend_resource(name)] = float(_device_count(backends.get(name, {})))
    for probe in doctor.get("probes", {}).get("results", []):
        family, backend = str(probe.get("family")), str(probe.get("backend"))
        if family == PLAIN_FAMILY or backend not in working or probe.get("status") != "pass":
            continue
        resources[family_resource(family)] = 1.0
        resources[pair_resource(backend, family)] = 1.0
    return NodeOffer(resources, _labels(doctor))


def _device_count(backend: Mapping[str, Any]) -> int:
    details = backend.get("details", {}) or {}
    count = details.get("device_count")
    if isinstance(count, int) and count > 0:
        return count
    devices = details.get("devices") or details.get("gpus")
    return len(devices) if isinstance(devices, list) and devices else 1


def _labels(doctor: Mapping[str, Any]) -> dict[str, str]:
    host = doctor.get("host", {})
    labels = {
        HOST_LABEL: label_value(str(host.get("hostname") or socket.gethostname())),
        FINGERPRINT_LABEL: label_value(str(doctor.get("fingerprint", ""))),
        VERSION_LABEL: label_value(str(doctor.get("qlora_check_version", ""))),
        PYTHON_LABEL: label_value(str(host.get("python", {}).get("version", ""))),
    }
    for library in doctor.get("libraries", []):
        if library.get("version"):
            key = LIBRARY_LABEL + label_value(str(library["distribution"]).lower())
            labels[key[:253]] = label_value(str(library["version"]))
    return {key: value for key, value in labels.items() if value}


def offer_of_node(node: Mapping[str, Any]) -> NodeOffer:
    """A live node's offer as `ray.nodes()` reports it (only qlora-check's resources and labels)."""
    resources = {str(k): float(v) for k, v in node.get("Resources", {}).items() if str(k).startswith(PREFIX)}
    labels = {str(k): str(v) for k, v in node.get("Labels", {}).items() if str(k).startswith(LABEL_PREFIX)}
    return NodeOffer(resources, labels)
