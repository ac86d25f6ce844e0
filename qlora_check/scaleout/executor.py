"""The Ray executor: each runnable cell in a Ray task on a node that can run it; results as they end.

The driver owns every policy Ray would otherwise apply on its own:
- retries: ``max_retries=0``; a cell whose node dies mid-cell is re-placed once on another eligible
  node, then recorded as `crash` with "node lost" (never dropped);
- timeouts: the cell's own limit runs inside the task (the launcher kills its process group); the driver
  adds ``GRACE_S`` and then force-cancels the task (its reaper kills what the cell left running);
- Ctrl-C: outstanding tasks are cancelled, started cells recorded as interrupted, the rest left for
  ``--resume`` (the same contract as a local run).
Each result carries the node that ran it (host, doctor fingerprint, library versions), and its log is
written into the driver's run directory as the cell ends.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from qlora_check.events import CellStarted, Notice, Observer
from qlora_check.execution.job import CellJob
from qlora_check.matrix.cell import Cell
from qlora_check.results.models import CellResult, ErrorInfo, Status
from qlora_check.results.store import utc_now
from qlora_check.scaleout.node_resources import offer_of_node
from qlora_check.scaleout.placement import CellNeeds, eligible_nodes, needs_of, skip_reason
from qlora_check.scaleout.task import FINISHED, STARTED, run_cell_task

GRACE_S = 30.0  # beyond the cell's own timeout: the task's start-up and the result's way back
POLL_S = 0.05
RECHECK_S = 2.0  # how often waiting cells are checked against the live nodes
NODE_LOST = "node lost"

Record = Callable[[CellResult], None]
Placed = Callable[[Cell, dict[str, Any]], None]


@dataclass(eq=False)  # identity: tasks are dictionary keys
class _Task:
    job: CellJob
    needs: CellNeeds
    handle: Any  # ray.ObjectRefGenerator
    node: dict[str, Any] | None = None
    started: float | None = None
    started_at: str | None = None
    lost: list[dict[str, Any]] = field(default_factory=list)  # the nodes that died under this cell
    cancelled_for: str = ""  # "timeout" or "interrupt" once the driver cancelled it


class RayExecutor:
    """Runs cell jobs on the Ray cluster this process is connected to (``ray.init`` done by the caller)."""

    isolation = "ray"

    def __init__(self, on_placed: Placed | None = None, grace_s: float = GRACE_S) -> None:
        import ray

        self._ray = ray
        self._remote = ray.remote(max_retries=0, num_returns="streaming")(run_cell_task)
        self._on_placed = on_placed
        self._grace_s = grace_s

    def nodes(self) -> list[dict[str, Any]]:
        return [dict(node) for node in self._ray.nodes()]  # type: ignore[no-untyped-call]

    def slots(self) -> int:
        """The CPUs of the live nodes: at most that many single-threaded cells run at once."""
        return int(sum(node.get("Resources", {}).get("CPU", 0) for node in self.nodes() if node.get("Alive")))

    def describe(self) -> dict[str, Any]:
        """The pool as run.json records it: each live node's host, fingerprint and qlora-check resources."""
        nodes = []
        for node in self.nodes():
            if node.get("Alive"):
                offer = offer_of_node(node)
                nodes.append({"node_id": node["NodeID"], "host": offer.host, **offer.to_dict()})
        return {"kind": "ray", "ray": self._ray.__version__, "nodes": nodes}

    def skip_reasons(self, cells: Sequence[Cell]) -> dict[str, str]:
        """Cell id -> why no live node can run it, for the cells that no node can run."""
        nodes = self.nodes()
        reasons = {cell.id: skip_reason(needs_of(cell), nodes) for cell in cells}
        return {cell_id: reason for cell_id, reason in reasons.items() if reason}

    def run(self, jobs: Sequence[CellJob], record: Record, observer: Observer) -> bool:
        """Run every job; ``record`` each result as it ends. True when interrupted (Ctrl-C)."""
        waiting = {self._submit(job, []): None for job in jobs}
        checked = time.monotonic()
        try:
            while waiting:
                handles = [task.handle for task in waiting]
                ready, _ = self._ray.wait(handles, num_returns=1, timeout=POLL_S, fetch_local=False)
                ready_ids = {id(handle) for handle in ready}
                for task in [task for task in waiting if id(task.handle) in ready_ids]:
                    waiting.pop(task)
                    follow_up = self._advance(task, record, observer)
                    if follow_up is not None:
                        waiting[follow_up] = None
                self._enforce_timeouts(waiting)
                if time.monotonic() - checked > RECHECK_S:
                    checked = time.monotonic()
                    self._drop_unplaceable(waiting, record)
        except KeyboardInterrupt:
            self._interrupt(waiting, record)
            return True
        return False

    def _submit(self, job: CellJob, lost: list[dict[str, Any]]) -> _Task:
        needs = needs_of(job.cell)
        handle = self._remote.options(**needs.ray_options(), name=f"qlora-check {job.cell.label}"[:200]).remote(job)
        return _Task(job, needs, handle, lost=lost)

    def _advance(self, task: _Task, record: Record, observer: Observer) -> _Task | None:
        """Read the task's next item; return the task to keep waiting on (itself or its re-placement)."""
        try:
            item = self._ray.get(next(task.handle))
        except StopIteration:
            record(self._fault(task, Status.ERROR, "the Ray task ended without a result", "NoResult"))
            return None
        except self._ray.exceptions.RayError as exc:
            return self._failed(task, exc, record, observer)
        if item.get("kind") == STARTED:
            task.node, task.started, task.started_at = item["node"], time.monotonic(), utc_now()
            observer(CellStarted(task.job.cell))
            if self._on_placed is not None:
                self._on_placed(task.job.cell, item["node"])
            return task
        if item.get("kind") == FINISHED:
            record(self._finished(task, item))
            return None
        record(self._fault(task, Status.ERROR, f"the Ray task sent an unknown item {item.get('kind')!r}", "NoResult"))
        return None

    def _finished(self, task: _Task, item: dict[str, Any]) -> CellResult:
        """The node's result, its log written where the driver's run directory keeps it."""
        log_path = task.job.log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_path.write_text(item.get("log", ""), encoding="utf-8")
        data = {**item["result"], "log_path": str(log_path), "node": self._node_record(task)}
        return CellResult.from_dict(data)

    def _node_record(self, task: _Task) -> dict[str, Any]:
        record = dict(task.node or {})
        if task.lost:
            record["replaced_after"] = task.lost
        return record

    def _failed(self, task: _Task, exc: Exception, record: Record, observer: Observer) -> _Task | None:
        ray_exceptions = self._ray.exceptions
        if task.cancelled_for == "timeout":
            reason = (
                f"exceeded the {task.job.timeout_s:g} s timeout (+{self._grace_s:g} s grace);"
                " the driver cancelled the Ray task"
            )
            record(self._fault(task, Status.TIMEOUT, reason, "Timeout"))
            return None
        if task.cancelled_for == "interrupt" or isinstance(exc, ray_exceptions.TaskCancelledError):
            record(self._fault(task, Status.INTERRUPTED, "the run was interrupted", "Interrupted"))
            return None
        if isinstance(exc, ray_exceptions.NodeDiedError) or self._node_gone(task):
            return self._node_lost(task, exc, record, observer)
        if isinstance(exc, ray_exceptions.RayTaskError):
            record(self._fault(task, Status.ERROR, f"the Ray task raised: {str(exc)[:400]}", type(exc).__name__))
            return None
        reason = f"the Ray worker running the cell died: {type(exc).__name__}: {str(exc)[:300]}"
        record(self._fault(task, Status.CRASH, reason, type(exc).__name__))
        return None

    def _node_gone(self, task: _Task) -> bool:
        node_id = (task.node or {}).get("node_id")
        if not node_id:
            return False
        return not any(node["NodeID"] == node_id and node.get("Alive") for node in self.nodes())

    def _node_lost(self, task: _Task, exc: Exception, record: Record, observer: Observer) -> _Task | None:
        lost = [*task.lost, {**(task.node or {}), "error": type(exc).__name__}]
        where = " then ".join(str(node.get("host") or node.get("node_id") or "?") for node in lost)
        if len(lost) == 1 and eligible_nodes(task.needs, self.nodes()):
            observer(Notice(f"{task.job.cell.label}: its node ({where}) was lost mid-cell; re-placing it once"))
            return self._submit(task.job, lost)
        again = "" if len(lost) > 1 else "; no other live node can run it"
        reason = f"{NODE_LOST}: the node running the cell died ({where}){again}"
        record(self._fault(task, Status.CRASH, reason, "NodeDied"))
        return None

    def _enforce_timeouts(self, waiting: Mapping[_Task, None]) -> None:
        now = time.monotonic()
        for task in waiting:
            if task.started is None or task.cancelled_for:
                continue
            if now - task.started > task.job.timeout_s + self._grace_s:
                task.cancelled_for = "timeout"
                self._ray.cancel(task.handle, force=True)

    def _drop_unplaceable(self, waiting: dict[_Task, None], record: Record) -> None:
        """A cell still waiting for a node when no live node can run it any more (its nodes left)."""
        nodes = self.nodes()
        for task in [task for task in waiting if task.started is None]:
            reason = skip_reason(task.needs, nodes)
            if reason:
                waiting.pop(task)
                task.cancelled_for = "unplaceable"
                self._ray.cancel(task.handle, force=True)
                record(self._fault(task, Status.SKIP, f"{reason} any more (nodes left the cluster)", ""))

    def _interrupt(self, waiting: Mapping[_Task, None], record: Record) -> None:
        for task in waiting:
            task.cancelled_for = "interrupt"
            self._ray.cancel(task.handle, force=True)
        for task in waiting:
            if task.started is not None:
                record(self._fault(task, Status.INTERRUPTED, "the run was interrupted", "Interrupted"))

    def _fault(self, task: _Task, status: Status, reason: str, error_type: str) -> CellResult:
        """A result the driver writes itself (the cell's process gave none)."""
        cell = task.job.cell
        elapsed = time.monotonic() - task.started if task.started is not None else 0.0
        quiet = status in (Status.SKIP, Status.INTERRUPTED) or not error_type
        error = None if quiet else ErrorInfo(error_type, reason)
        data = CellResult(
            cell.id,
            cell.label,
            cell.values,
            status,
            reason,
            error=error,
            attempt=task.job.attempt,
            started_at=task.started_at or utc_now(),
            ended_at=utc_now(),
            timings={"wall_s": elapsed} if task.started is not None else {},
        ).to_dict()
        return CellResult.from_dict({**data, "node": self._node_record(task)})
