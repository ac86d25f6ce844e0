"""Comparing two runs of (mostly) the same matrix: what broke, what got fixed, what drifted.

Pure functions over run directories; no heavy imports. Cells are matched by id.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from qlora_check.matrix.defaults import changed_defaults
from qlora_check.results.models import CellResult, Status
from qlora_check.results.store import read_results, read_run

COMPARISON_SCHEMA_VERSION = 1
NOT_RUN = frozenset({Status.SKIP, Status.NOT_APPLICABLE})
FAIL_ON = ("regression", "any-change", "never")


@dataclass(frozen=True)
class Thresholds:
    """Relative changes that count: peak memory, tokens/s, and loss-curve drift."""

    memory: float = 0.25
    speed: float = 0.30
    loss: float = 0.05
    min_memory_mb: float = 1.0  # ignore memory changes smaller than this, however large relatively


class ChangeKind(str, Enum):
    """What changed about a cell between two runs (the order is the order reports show them in)."""

    def __str__(self) -> str:
        return str(self.value)

    REGRESSION = "regression"
    FIX = "fix"
    DEFAULT_CHANGED = "default_changed"  # the status or loss changed, and so did a default it ran with
    STATUS = "status"
    MEMORY = "memory"
    SPEED = "speed"
    LOSS = "loss"
    ADDED = "added"
    REMOVED = "removed"


@dataclass(frozen=True)
class Change:
    kind: ChangeKind
    cell_id: str
    label: str
    before: Any
    after: Any
    detail: str


@dataclass
class Comparison:
    run_a: str
    run_b: str
    thresholds: Thresholds
    changes: list[Change] = field(default_factory=list)
    environment: dict[str, dict[str, Any]] = field(default_factory=dict)
    cells_compared: int = 0

    def of_kind(self, kind: ChangeKind | str) -> list[Change]:
        return [change for change in self.changes if change.kind == kind]  # a ChangeKind equals its value

    @property
    def regressions(self) -> list[Change]:
        return self.of_kind(ChangeKind.REGRESSION)

    def exit_code(self, fail_on: str) -> int:
        if fail_on == "never":
            return 0
        if fail_on == "any-change":
            return 1 if self.changes else 0
        return 1 if self.regressions else 0

    def to_dict(self) -> dict[str, Any]:
        counts = {kind.value: len(self.of_kind(kind)) for kind in ChangeKind}
        return {
            "schema_version": COMPARISON_SCHEMA_VERSION,
            "run_a": self.run_a,
            "run_b": self.run_b,
            "thresholds": asdict(self.thresholds),
            "cells_compared": self.cells_compared,
            "counts": counts,
            "changes": [{**asdict(change), "kind": change.kind.value} for change in self.changes],
            "environment": self.environment,
        }


def compare_runs(run_a: Path, run_b: Path, thresholds: Thresholds | None = None) -> Comparison:
    """Everything that changed from ``run_a`` (before) to ``run_b`` (after)."""
    thresholds = thresholds or Thresholds()
    info_a, info_b = read_run(run_a), read_run(run_b)
    before, after = read_results(run_a).final(), read_results(run_b).final()
    comparison = Comparison(str(run_a), str(run_b), thresholds, environment=environment_diff(info_a, info_b))
    for cell_id, result in after.items():
        if cell_id not in before:
            comparison.changes.append(
                Change(ChangeKind.ADDED, cell_id, result.label, None, result.status.value, "new cell")
            )
            continue
        comparison.cells_compared += 1
        comparison.changes.extend(cell_changes(before[cell_id], result, thresholds))
    for cell_id, result in before.items():
        if cell_id not in after:
            comparison.changes.append(
                Change(ChangeKind.REMOVED, cell_id, result.label, result.status.value, None, "cell gone")
            )
    return comparison


def cell_changes(a: CellResult, b: CellResult, thresholds: Thresholds) -> list[Change]:
    """The changes of one cell between two runs."""
    changes: list[Change] = []
    defaults = changed_defaults(b.values, a.engine.get("defaults"), b.engine.get("defaults"))
    if defaults and (a.status is not b.status or a.losses != b.losses):
        # Not a regression or a fix: the cell ran with another default (lr: auto, adapter_dtype) this time.
        which = ", ".join(f"{name} {old} → {new}" for name, (old, new) in defaults.items())
        detail = f"default changed ({which}): {a.status.value} → {b.status.value}"
        if b.reason and b.status is not a.status:
            detail += f": {b.reason}"
        changes.append(Change(ChangeKind.DEFAULT_CHANGED, b.cell_id, b.label, a.status.value, b.status.value, detail))
    elif a.status is not b.status:
        if not a.fails_run and a.status not in NOT_RUN and b.fails_run:
            kind, detail = ChangeKind.REGRESSION, f"{a.status.value} → {b.status.value}: {b.reason}"
        elif a.fails_run and b.status in (Status.PASS, Status.XPASS):
            kind, detail = ChangeKind.FIX, f"{a.status.value} → {b.status.value}"
        else:
            kind, detail = ChangeKind.STATUS, f"{a.status.value} → {b.status.value}"
        changes.append(Change(kind, b.cell_id, b.label, a.status.value, b.status.value, detail))
    memory_a, memory_b = _as_float(a.memory.get("peak_rss_mb")), _as_float(b.memory.get("peak_rss_mb"))
    if _numbers(memory_a, memory_b) and abs(memory_b - memory_a) >= thresholds.min_memory_mb:
        relative = _relative(memory_a, memory_b)
        if abs(relative) > thresholds.memory:
            changes.append(
                Change(
                    ChangeKind.MEMORY,
                    b.cell_id,
                    b.label,
                    memory_a,
                    memory_b,
                    f"peak memory {memory_a:.1f} → {memory_b:.1f} MiB ({relative:+.0%})",
                )
            )
    speed_a, speed_b = a.tokens_per_s or 0.0, b.tokens_per_s or 0.0
    if _numbers(speed_a, speed_b):
        relative = _relative(speed_a, speed_b)
        if abs(relative) > thresholds.speed:
            detail = f"tokens/s {speed_a:,.0f} → {speed_b:,.0f} ({relative:+.0%})"
            changes.append(Change(ChangeKind.SPEED, b.cell_id, b.label, speed_a, speed_b, detail))
    drift = None if defaults else loss_drift(a.losses, b.losses)
    if drift is not None and drift > thresholds.loss:
        changes.append(
            Change(
                ChangeKind.LOSS,
                b.cell_id,
                b.label,
                a.losses[-1],
                b.losses[-1],
                f"loss curve drifted by up to {drift:.1%} (tolerance {thresholds.loss:.0%})",
            )
        )
    return changes


def loss_drift(a: list[float], b: list[float]) -> float | None:
    """The largest relative difference between two loss curves of the same length (None: not comparable)."""
    if not a or len(a) != len(b):
        return None
    if not all(math.isfinite(x) for x in a + b):
        return math.inf if any(math.isfinite(x) != math.isfinite(y) for x, y in zip(a, b, strict=True)) else None
    return max(abs(x - y) / max(abs(x), 1e-8) for x, y in zip(a, b, strict=True))


def environment_diff(a: dict[str, Any], b: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Library versions and host facts that differ between two runs."""
    host_a, host_b = a.get("host", {}), b.get("host", {})
    diff: dict[str, dict[str, Any]] = {}
    libraries_a, libraries_b = host_a.get("libraries", {}), host_b.get("libraries", {})
    for name in sorted(set(libraries_a) | set(libraries_b)):
        if libraries_a.get(name) != libraries_b.get(name):
            diff[name] = {"before": libraries_a.get(name), "after": libraries_b.get(name)}
    for key in ("python", "os", "cpu", "hostname"):
        if host_a.get(key) != host_b.get(key):
            diff[key] = {"before": host_a.get(key), "after": host_b.get(key)}
    return diff


def _as_float(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) else 0.0


def _numbers(*values: Any) -> bool:
    return all(isinstance(v, (int, float)) and math.isfinite(v) and v > 0 for v in values)


def _relative(before: float, after: float) -> float:
    return (after - before) / before
