"""The nodes a run's cells ran on (a Ray pool): host, doctor fingerprint, cells, and the library versions
that differ between them (a difference between nodes can explain a difference between their cells)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from qlora_check.results.models import CellResult


@dataclass(frozen=True)
class NodeView:
    host: str
    fingerprint: str
    cells: int
    libraries: dict[str, str | None] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"host": self.host, "fingerprint": self.fingerprint, "cells": self.cells, "libraries": self.libraries}


def nodes_of(results: Sequence[CellResult]) -> list[NodeView]:
    """One entry per (host, fingerprint) that ran a cell, in host order; empty for a run on one host."""
    seen: dict[tuple[str, str], tuple[int, dict[str, str | None]]] = {}
    for result in results:
        node = result.node or {}
        if not node.get("host"):
            continue
        key = (str(node["host"]), str(node.get("fingerprint", "")))
        cells, libraries = seen.get(key, (0, {}))
        seen[key] = (cells + 1, libraries or dict(node.get("libraries") or {}))
    return [NodeView(host, fingerprint, cells, libs) for (host, fingerprint), (cells, libs) in sorted(seen.items())]


def differing_libraries(nodes: Sequence[NodeView]) -> dict[str, dict[str, str | None]]:
    """Library name -> {host: version} for the libraries whose versions differ between nodes."""
    names = sorted({name for node in nodes for name in node.libraries})
    differing = {}
    for name in names:
        versions = {node.host: node.libraries.get(name) for node in nodes}
        if len(set(versions.values())) > 1:
            differing[name] = versions
    return differing
