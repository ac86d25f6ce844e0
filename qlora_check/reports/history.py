"""History over the last N runs under a reports root: cell × run statuses, figures, and for each cell
failing now, the last run it passed in and what changed in the environment since.

`load_history` reads run directories; `build_history` is a pure function of the runs read, so it can be
tested on any list of runs. Nothing here imports torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from qlora_check.errors import ResultsError
from qlora_check.reports.compare import environment_diff
from qlora_check.reports.model import cell_sort_key
from qlora_check.results.models import CellResult, Status
from qlora_check.results.store import RUN_FILE, read_results, read_run

DEFAULT_LAST = 20
RUNS_DIR = "runs"
PASSED = frozenset({Status.PASS, Status.XPASS})  # an xpass trained and passed its checks


@dataclass(frozen=True)
class RunRecord:
    """One run as read from disk: its directory, run.json, and the final result of every cell."""

    run_dir: Path
    info: dict[str, Any]
    results: dict[str, CellResult]

    @property
    def run_id(self) -> str:
        return str(self.info.get("run_id") or self.run_dir.name)

    @property
    def started_at(self) -> str:
        return str(self.info.get("started_at") or "")

    @property
    def hostname(self) -> str:
        host = self.info.get("host")
        return str(host.get("hostname", "")) if isinstance(host, dict) else ""


@dataclass(frozen=True)
class Mark:
    """A cell's final result in one run, reduced to what the grid and the sparklines show."""

    status: Status
    reason: str
    fails: bool
    peak_mb: float | None
    tokens_per_s: float | None

    @classmethod
    def of(cls, result: CellResult) -> Mark:
        peak = result.memory.get("peak_rss_mb")
        return cls(
            result.status,
            result.reason,
            result.fails_run,
            float(peak) if isinstance(peak, (int, float)) else None,
            result.tokens_per_s,
        )


@dataclass(frozen=True)
class CellHistory:
    """One cell across the runs: ``marks[i]`` is its result in run i (None: not in that run)."""

    cell_id: str
    label: str
    values: dict[str, Any]
    marks: list[Mark | None]

    @property
    def now(self) -> Mark | None:
        return self.marks[-1]

    def series(self, figure: str) -> list[float | None]:
        """A figure (``peak_mb`` or ``tokens_per_s``) per run, None where there is none."""
        return [getattr(mark, figure) if mark is not None else None for mark in self.marks]


@dataclass(frozen=True)
class FailingCell:
    """A cell failing in the newest run: since when, the last run it passed in, and what changed since."""

    cell: CellHistory
    failing_since: int  # index of the first run of the current failing streak
    last_passed: int | None  # index of the last run it passed in; None: not within these runs
    environment: dict[str, dict[str, Any]]  # environment_diff(last passed run, newest run)


@dataclass
class History:
    runs: list[RunRecord]
    cells: list[CellHistory]
    failing: list[FailingCell]
    warnings: list[str] = field(default_factory=list)

    @property
    def newest(self) -> RunRecord:
        return self.runs[-1]


def find_runs(root: Path, last: int = DEFAULT_LAST) -> tuple[list[RunRecord], list[str]]:
    """The last ``last`` readable runs under ``root/runs/``, oldest first (by started_at); warnings."""
    runs_dir = root / RUNS_DIR
    if not runs_dir.is_dir():
        raise ResultsError(f"{runs_dir}: no such directory", tip="run `qlora-check run MATRIX --root ROOT` first")
    found: list[tuple[Path, dict[str, Any]]] = []
    warnings: list[str] = []
    for run_dir in sorted(path for path in runs_dir.iterdir() if (path / RUN_FILE).is_file()):
        try:
            found.append((run_dir, read_run(run_dir)))
        except ResultsError as exc:
            warnings.append(f"skipped {run_dir.name}: {exc.message}")
    found.sort(key=lambda item: (_started(item[1]), item[0].name))
    records = []
    for run_dir, info in found[-last:] if last > 0 else []:
        read = read_results(run_dir)
        warnings += [f"{run_dir.name}: {warning}" for warning in read.warnings]
        records.append(RunRecord(run_dir, info, read.final()))
    if not records:
        raise ResultsError(f"{runs_dir}: no runs found", tip="run `qlora-check run MATRIX --root ROOT` first")
    return records, warnings


def load_history(root: Path, last: int = DEFAULT_LAST) -> History:
    """The history of the last ``last`` runs under ``root``."""
    runs, warnings = find_runs(root, last)
    history = build_history(runs)
    history.warnings[:0] = warnings
    return history


def build_history(runs: Sequence[RunRecord]) -> History:
    """Cells (every cell seen in any run, in axis order) × runs (oldest first), and the failing cells."""
    latest: dict[str, CellResult] = {}
    for run in runs:
        latest.update(run.results)  # the newest result names and orders a cell
    cells = [
        CellHistory(
            result.cell_id,
            result.label,
            result.values,
            [Mark.of(run.results[result.cell_id]) if result.cell_id in run.results else None for run in runs],
        )
        for result in sorted(latest.values(), key=cell_sort_key)
    ]
    failing = [failing_cell(cell, runs) for cell in cells if cell.now is not None and cell.now.fails]
    return History(list(runs), cells, failing)


def failing_cell(cell: CellHistory, runs: Sequence[RunRecord]) -> FailingCell:
    """When a cell now failing last passed, when its failing streak began, and the environment diff."""
    last_passed = next(
        (i for i in range(len(cell.marks) - 1, -1, -1) if (m := cell.marks[i]) and m.status in PASSED), None
    )
    since = len(cell.marks) - 1
    while since > 0 and since - 1 != last_passed and ((m := cell.marks[since - 1]) is None or m.fails):
        since -= 1
    while cell.marks[since] is None:  # a streak begins with a run that had the cell
        since += 1
    environment = environment_diff(runs[last_passed].info, runs[-1].info) if last_passed is not None else {}
    return FailingCell(cell, since, last_passed, environment)


def _started(info: dict[str, Any]) -> datetime:
    try:
        started = datetime.fromisoformat(str(info.get("started_at")))
    except ValueError:
        return datetime.min.replace(tzinfo=timezone.utc)
    return started if started.tzinfo else started.replace(tzinfo=timezone.utc)
