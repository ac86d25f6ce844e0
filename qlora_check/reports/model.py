"""The report model: one run read back (run.json + the final result of every cell), in display order.

Every report format renders from this, never from the run directory directly, and nothing here
imports torch: `qlora-check report` must stay fast.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from qlora_check.matrix.axes import AXES, CORE_AXES
from qlora_check.reports.changes import load_comparison
from qlora_check.reports.compare import Comparison
from qlora_check.reports.logs import log_file, log_link, log_tail
from qlora_check.reports.nodes import NodeView, nodes_of
from qlora_check.results.models import CellResult, Status
from qlora_check.results.store import read_results, read_run, summarise

DEFAULT_ROWS = ("backend", "quantizer")
DEFAULT_COLUMNS = ("train_type",)


@dataclass(frozen=True)
class RunReport:
    """A run as reports see it."""

    run_dir: Path
    run: dict[str, Any]
    results: list[CellResult]
    warnings: list[str] = field(default_factory=list)
    comparison: Comparison | None = None  # from comparison.json, written by `run --compare-to`

    @property
    def counts(self) -> dict[str, int]:
        return summarise({result.cell_id: result for result in self.results})

    @property
    def matrix_name(self) -> str:
        return str(self.run.get("matrix", {}).get("name") or self.run.get("run_id") or self.run_dir.name)

    @property
    def not_applicable_left_out(self) -> dict[str, int]:
        """n/a combinations of the matrix the plan left out, per reason (run.json's `planned`)."""
        planned = self.run.get("planned")
        left_out = planned.get("not_applicable_left_out") if isinstance(planned, dict) else None
        reasons = left_out.get("reasons") if isinstance(left_out, dict) else None
        return {str(k): int(v) for k, v in reasons.items()} if isinstance(reasons, dict) else {}

    @property
    def host(self) -> dict[str, Any]:
        host = self.run.get("host")
        return host if isinstance(host, dict) else {}

    @property
    def nodes(self) -> list[NodeView]:
        """The Ray nodes that ran cells (empty for a local run)."""
        return nodes_of(self.results)

    @property
    def duration_s(self) -> float | None:
        started, ended = _parse_time(self.run.get("started_at")), _parse_time(self.run.get("ended_at"))
        if started is None or ended is None:
            return None
        return (ended - started).total_seconds()

    @property
    def axes(self) -> list[str]:
        """Axes worth showing: the core axes, then every other axis whose value differs between cells."""
        varying = [
            name
            for name in AXES
            if name not in CORE_AXES and len({str(result.values.get(name)) for result in self.results}) > 1
        ]
        return [*CORE_AXES, *varying]

    def failing(self) -> list[CellResult]:
        return [result for result in self.results if fails(result)]

    def log_link(self, result: CellResult) -> str | None:
        return log_link(self.run_dir, result)

    def log_tail(self, result: CellResult) -> str:
        """The log tail of a failing cell; empty for the others (reports never inline whole logs)."""
        if not fails(result) and result.status is not Status.INTERRUPTED:
            return ""
        return log_tail(log_file(self.run_dir, result))


def fails(result: CellResult) -> bool:
    """Whether a result fails the run: the result's own verdict where it has one (a strict xpass does)."""
    return bool(getattr(result, "fails_run", result.status.is_failure))


def load_report(run_dir: Path) -> RunReport:
    """Read a run directory into a RunReport; ResultsError when it is not a readable run."""
    run = read_run(run_dir)
    read = read_results(run_dir)
    results = sorted(read.final().values(), key=cell_sort_key)
    comparison, problems = load_comparison(run_dir)
    return RunReport(run_dir, run, results, [*read.warnings, *problems], comparison)


def value_sort_key(axis: str, value: Any) -> tuple[int, float, str]:
    """Order values as the axis lists its choices (cpu before cuda), numbers numerically, then text."""
    known = AXES.get(axis)
    if known is not None and known.choices is not None and value in known.choices:
        return (0, float(known.choices.index(value)), "")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (1, float(value), "")
    return (2, 0.0, str(value))


def cell_sort_key(result: CellResult) -> list[tuple[int, float, str]]:
    return [value_sort_key(name, result.values.get(name)) for name in AXES]


def format_duration(seconds: float | None) -> str:
    """'1 h 02 min', '3 min 05 s', '12.3 s'."""
    if seconds is None:
        return "unknown"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None
