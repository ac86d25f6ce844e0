"""A matrix as pytest items: one item per cell (its name is the cell id), run as `qlora-check run` runs it.

The matrix is expanded and planned exactly as `qlora-check plan` does (`execution.plan.plan_matrix` with
doctor's view of the host); a cell to run goes through a launcher of `execution.launchers` (a fork server
with the cells' modules preloaded, or a fresh interpreter each), in its own process, with the matrix's
timeout, retries and ``expect`` rules. Statuses map to pytest outcomes: pass passes, skip and n/a skip with
the reason, xfail is xfail, an xpass is an XPASS (a failure under a ``strict`` rule), everything else
fails with the failed checks and their figures. Nothing here imports torch: the cells do, in their child.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from qlora_check.errors import QloraCheckError
from qlora_check.execution.expectations import apply_expectations, matching_rule
from qlora_check.execution.job import CellJob
from qlora_check.execution.launchers.forkserver import choose_launcher
from qlora_check.execution.launchers.interface import Launcher
from qlora_check.execution.plan import RUN, PlanKind, PlannedCell, plan_matrix
from qlora_check.execution.resources import CUDA, Grant, cuda_device_ids, demand_for
from qlora_check.execution.run import RETRYABLE, with_attempts
from qlora_check.matrix.cell import Cell
from qlora_check.matrix.loader import load_matrix
from qlora_check.matrix.model import Matrix
from qlora_check.results.models import CellResult, Status
from qlora_check.testing.markers import host_capabilities


class CellFailed(Exception):
    """A cell ended with a failing status; the message is its failed checks, error and log."""


class ExpectedCellFailure(Exception):
    """A cell failed the way its matrix' ``expect`` rule said it would (pytest reports it as xfail)."""


@dataclass
class CellRuntime:
    """What the cells of one pytest process share: one launcher, a scratch and a log directory (both made
    when the first cell runs, so a session without cells leaves nothing behind)."""

    log_dir: Path | None = None
    timeout: float | None = None
    cells: list[Cell] = field(default_factory=list)
    _launcher: Launcher | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _scratch: Path | None = None

    def launcher(self) -> Launcher:
        """Chosen at the first cell that runs, for every cell collected (the fork server preloads their modules)."""
        with self._lock:
            if self._launcher is None:
                if self.log_dir is None:
                    self.log_dir = Path(tempfile.mkdtemp(prefix="qlora-check-pytest-logs-"))
                self.log_dir.mkdir(parents=True, exist_ok=True)
                self._launcher = choose_launcher(self.cells, self.log_dir)
                self._scratch = Path(tempfile.mkdtemp(prefix="qlora-check-pytest-"))
            return self._launcher

    def run(self, cell: Cell, matrix: Matrix) -> CellResult:
        """Run one cell to a final result, retrying crashes, timeouts and OOMs as the matrix allows."""
        launcher = self.launcher()
        assert self._scratch is not None and self.log_dir is not None
        settings = matrix.settings
        job = CellJob(
            cell=cell,
            work_dir=self._scratch / cell.id,
            log_path=self.log_dir / f"{cell.id}.log",
            timeout_s=self.timeout if self.timeout is not None else settings.timeout,
            demand=demand_for(cell),
            learned_margin=settings.learned_margin,
            max_memory_mb=settings.max_memory_mb,
            log_max_bytes=settings.log_max_bytes,
        )
        if job.demand.device_kind == CUDA and host_capabilities().cuda_devices:
            job = job.with_grant(cuda_grant(host_capabilities().cuda_devices))
        earlier: list[CellResult] = []
        for attempt in range(1, settings.retries + 2):
            job = replace(job, attempt=attempt, log_path=self.log_dir / f"{cell.id}.{attempt}.log")
            raw = launcher.run(job)
            shutil.rmtree(job.work_dir, ignore_errors=True)
            result = apply_expectations(raw, matrix.expect)
            if raw.status not in RETRYABLE or attempt > settings.retries:
                return with_attempts(result, earlier) if earlier else result
            earlier.append(result)
        raise AssertionError("unreachable: the last attempt returns")

    def close(self) -> None:
        if self._launcher is not None:
            self._launcher.close()
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)


def cuda_grant(cuda_devices: int) -> Grant:
    """One GPU per pytest-xdist worker, round robin (gw0 -> the first, gw1 -> the second …), pinned for the
    cell through CUDA_VISIBLE_DEVICES as `qlora-check run`'s scheduler pins it."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    ids = cuda_device_ids(cuda_devices)
    return Grant(threads=1, device_kind=CUDA, devices=(ids[int(worker) % len(ids) if worker.isdigit() else 0],))


RUNTIME_KEY = pytest.StashKey[CellRuntime]()


class MatrixFile(pytest.File):
    """A matrix YAML given with ``--qlora-matrix``: collects one `CellItem` per planned cell."""

    def collect(self) -> Iterator[pytest.Item]:
        matrix = load_matrix(self.path)
        runtime = self.config.stash[RUNTIME_KEY]
        for planned in plan_matrix(matrix, host_capabilities()):
            if planned.planned is RUN:
                runtime.cells.append(planned.cell)
            item = CellItem.from_parent(self, name=planned.cell.id, planned=planned, matrix=matrix)
            item.extra_keyword_matches.update(str(value) for value in planned.cell.values.values())
            if planned.planned is not RUN:  # a skip marker: pytest reports the item's location, not ours
                prefix = "n/a" if planned.planned is PlanKind.NOT_APPLICABLE else "skip"
                item.add_marker(pytest.mark.skip(reason=f"{prefix}: {planned.reason}"))
            rule = matching_rule(matrix.expect, dict[str, object](planned.cell.values))
            if rule is not None and planned.planned is RUN:
                reason = f"expected {rule.status}: {rule.reason}"
                item.add_marker(pytest.mark.xfail(reason=reason, raises=ExpectedCellFailure, strict=rule.strict))
            yield item

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException]) -> Any:  # type: ignore[override]
        """A user's mistake in the matrix: one clear line and the tip, as the CLI says it (no traceback)."""
        error = excinfo.value
        if isinstance(error, QloraCheckError):
            return error.message + (f"\nTip: {error.tip}" if error.tip else "")
        return super().repr_failure(excinfo)


class CellItem(pytest.Item):
    """One cell of a matrix as a pytest test."""

    def __init__(self, *, planned: PlannedCell, matrix: Matrix, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.planned = planned
        self.matrix = matrix
        self.result: CellResult | None = None

    def runtest(self) -> None:
        result = self.config.stash[RUNTIME_KEY].run(self.planned.cell, self.matrix)
        self.result = result
        self.user_properties.append(("qlora_check_status", result.status.value))
        self.user_properties.append(("qlora_check_log", result.log_path or ""))
        outcome(result)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, (CellFailed, ExpectedCellFailure)):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style)

    def reportinfo(self) -> tuple[Path, int, str]:
        # A line is required: pytest places skip reports at the item's location.
        return self.path, 0, f"cell {self.planned.cell.id}: {self.planned.cell.label}"


def outcome(result: CellResult) -> None:
    """Turn a final cell result into the pytest outcome (returns for pass and xpass)."""
    status = result.status
    if status is Status.PASS or status is Status.XPASS:
        return
    if status in (Status.SKIP, Status.NOT_APPLICABLE):
        pytest.skip(f"{status.value}: {result.reason}")
    if status is Status.XFAIL:
        raise ExpectedCellFailure(failure_text(result))
    raise CellFailed(failure_text(result))


def failure_text(result: CellResult) -> str:
    """The status and reason, each failed check with its figures, the error and where the log is."""
    lines = [f"{result.status.value}: {result.reason}".rstrip(": "), f"cell {result.cell_id}: {result.label}"]
    for check in result.checks:
        if not check.passed:
            figures = ", ".join(f"{key}={value}" for key, value in check.figures.items())
            lines.append(f"  check {check.name} failed: {check.detail}" + (f" [{figures}]" if figures else ""))
    if result.losses:
        shown = ", ".join(f"{loss:.4g}" for loss in result.losses[:3])
        lines.append(f"  losses: {shown} … {result.losses[-1]:.4g} ({len(result.losses)} steps)")
    if result.error is not None:
        lines.append(f"  {result.error.type}: {result.error.message}")
        lines.extend(f"    {line}" for line in result.error.traceback.splitlines()[-12:])
    for attempt in result.attempts:
        lines.append(f"  earlier attempt {attempt['attempt']}: {attempt['status']} {attempt['reason']}")
    if result.log_path:
        lines.append(f"  log: {result.log_path}")
    return "\n".join(lines)
