"""A multi-process cell from the worker's side: launch the ranks, train the reference, judge, combine.

The cell's loss per step is the ranks' mean (all-reduced, the same on every rank); its memory figure is
the largest rank's peak, every rank's under ``memory.per_rank``. A failed rank ends the cell as
`RankFailure`, naming the rank; the worker classifies it (crash, error, oom or timeout).
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qlora_check.distributed.failure import RankFailure
from qlora_check.distributed.launch import LaunchOutcome, RankOutcome, launch_ranks
from qlora_check.distributed.rank import TRAINED_FILE, RankSpec
from qlora_check.engines import checks as shared
from qlora_check.engines.interface import EngineOutput
from qlora_check.results.models import CheckResult

DEFAULT_TIMEOUT_S = 600.0  # when the worker was given no limit (the parent still enforces its own)
RANKS_SHARE_OF_TIMEOUT = 0.75  # the rest is the single-process reference's and the watcher's margin


@dataclass(frozen=True)
class DistributedRequest:
    values: dict[str, Any]
    work_dir: Path
    timeout_s: float
    device_kind: str = "cpu"
    learned_margin: float = 0.2
    attempt: int = 1
    fault: Callable[[str, int], None] | None = None  # the worker's injector, applied in inject_rank

    @property
    def world_size(self) -> int:
        return int(self.values["world_size"])

    @property
    def inject_rank(self) -> int:
        chosen = self.values.get("inject_rank", -1)
        return self.world_size - 1 if chosen is None or int(chosen) < 0 else int(chosen)


def run_distributed(request: DistributedRequest, *, force_spawn: bool = False) -> EngineOutput:
    """Run every rank, then the reference; raise `RankFailure` when a rank failed."""
    from qlora_check.distributed import reference as single

    ranks_timeout = request.timeout_s * RANKS_SHARE_OF_TIMEOUT
    specs = [
        RankSpec(
            values=request.values,
            work_dir=str(request.work_dir),
            rank=rank,
            world_size=request.world_size,
            device_kind=request.device_kind,
            timeout_s=ranks_timeout,
            inject_rank=request.inject_rank,
            attempt=request.attempt,
        )
        for rank in range(request.world_size)
    ]
    outcome = launch_ranks(specs, ranks_timeout, fault=request.fault, force_spawn=force_spawn)
    launch = _launch_info(outcome)
    if outcome.timed_out or outcome.culprit is not None:
        raise _failure(outcome, ranks_timeout, launch)
    results = [rank.result or {} for rank in outcome.ranks]
    first = results[0]
    trained = request.work_dir / TRAINED_FILE
    reference = single.train_reference(
        request.values, request.work_dir, request.world_size, trained, request.device_kind
    )
    atol, rtol, why = single.tolerance(request.values, request.world_size, request.device_kind)
    checks = _checks(request, results, reference, (atol, rtol, why))
    per_rank = [{"rank": r["rank"], **r["memory"]} for r in results]
    peak = max(float(r["memory"].get("peak_rss_mb", 0.0)) for r in results)
    memory: dict[str, Any] = {"peak_rss_mb": peak, "per_rank": per_rank, "method": first["memory"].get("method")}
    device_peaks = [_device_peak(r["memory"]) for r in results if r["memory"].get("device_phases_mb")]
    if device_peaks:
        memory["device_peak_allocated_mb"] = max(device_peaks)  # the largest rank's, as for host memory
    train_s = max(float(r["timings"].get("train_s", 0.0)) for r in results)
    timings = {
        "ranks_s": outcome.wall_s,
        "ranks_start_s": outcome.start_s,
        "train_s": train_s,
        "step_s": train_s / max(1, len(first["losses"])),
        "reference_train_s": reference.train_s,
    }
    tokens = sum(int(r["tokens"]) for r in results)
    info = {
        "distributed": {
            "strategy": first["strategy"],
            "world_size": request.world_size,
            "backend": first["backend"],
            "rendezvous": "file",
            **launch,
        },
        "optimizer": first["optimizer"],
        "per_rank_timings": [{"rank": r["rank"], **r["timings"]} for r in results],
    }
    return EngineOutput(
        losses=list(first["losses"]),
        lrs=list(first["lrs"]),
        checks=checks,
        memory=memory,
        timings=timings,
        tokens_per_s=tokens / train_s if train_s > 0 else None,
        info=info,
    )


def _checks(
    request: DistributedRequest, results: list[dict[str, Any]], reference: Any, tolerance: tuple[float, float, str]
) -> list[CheckResult]:
    from qlora_check.distributed.checks import matches_single_check, ranks_agree_check
    from qlora_check.engines.torch_engine.checks import checkpoint_check

    first, values = results[0], request.values
    losses = list(first["losses"])
    checks = [
        shared.trainable_check(
            first["trainable"]["actual"], first["trainable"]["expected"], "the training type's rule"
        ),
        shared.finite_check(losses),
        shared.learned_check(losses, request.learned_margin),
    ]
    warmup = shared.warmup_steps(float(values["warmup"]), int(values["steps"]))
    expected = shared.expected_lrs(str(values["scheduler"]), float(values["lr"]), int(values["steps"]), warmup)
    checks.append(shared.lr_schedule_check(first["lrs"], expected))
    checks.append(ranks_agree_check(first["agreement"]))
    diff, scale = _state_difference(request.work_dir / TRAINED_FILE, reference.final_state)
    checks.append(matches_single_check(losses, reference.losses, diff, scale, *tolerance))
    reloaded = reference.reloaded_eval_loss
    checks.append(
        checkpoint_check(
            float(first["trained_eval_loss"]),
            float("nan") if reloaded is None else reloaded,
            str(values["precision"]),
            list(first["saved"]),
        )
    )
    return checks


def _device_peak(memory: dict[str, Any]) -> float:
    phases = memory.get("device_phases_mb", {}).values()
    return max((float(phase.get("max_allocated_mb", 0.0)) for phase in phases), default=0.0)


def _state_difference(trained: Path, reference: dict[str, Any]) -> tuple[float, float]:
    """Max |ranks' final trainable parameter - reference's|, and the reference's max |parameter|."""
    from safetensors.torch import load_file

    if not trained.exists():
        return float("inf"), 0.0
    saved = load_file(str(trained))
    if set(saved) != set(reference):
        return float("inf"), 0.0
    diff = max((float((saved[n].double() - reference[n].double()).abs().max()) for n in saved), default=0.0)
    scale = max((float(reference[n].double().abs().max()) for n in saved), default=0.0)
    return diff, scale


def _launch_info(outcome: LaunchOutcome) -> dict[str, Any]:
    return {
        "launch": outcome.mode,
        "ranks": [
            {"rank": r.rank, "pid": r.pid, "returncode": r.returncode, "killed_by_watcher": r.killed_by_watcher}
            for r in outcome.ranks
        ],
    }


def _failure(outcome: LaunchOutcome, limit_s: float, launch: dict[str, Any]) -> RankFailure:
    """What ended the cell: the rank that failed first (or hung), as it ended."""
    rank = outcome.culprit if outcome.culprit is not None else outcome.ranks[-1].rank
    culprit: RankOutcome = outcome.ranks[rank]
    tail, code = culprit.log_tail(), culprit.returncode
    error = (culprit.result or {}).get("error") or {}
    common: dict[str, Any] = {"rank": rank, "returncode": code, "log_tail": tail, "launch": launch}
    if outcome.timed_out:
        reason = f"rank {rank} hung: the ranks exceeded their {limit_s:g} s limit; every rank was killed"
        return RankFailure(reason=reason, timed_out=True, error_type="Timeout", message=reason, **common)
    if code is not None and code < 0 and not culprit.killed_by_watcher:
        name = _signal_name(-code)
        reason = f"rank {rank} was killed by {name}; the other ranks were killed"
        return RankFailure(reason=reason, timed_out=False, error_type=name, message=reason, traceback=tail, **common)
    if error:
        reason = f"rank {rank}: {error['type'].rsplit('.', 1)[-1]}: {error['message']}"[:500]
        # It recorded its own error; a SIGKILL from the watcher afterwards is not how it failed.
        common["returncode"] = code if code is not None and code >= 0 else None
        return RankFailure(
            reason=reason,
            timed_out=False,
            error_type=error["type"],
            message=error["message"],
            traceback=error.get("traceback", ""),
            **common,
        )
    reason = f"rank {rank} exited with code {code} without a result; the other ranks were killed"
    return RankFailure(reason=reason, timed_out=False, error_type="RankExit", message=reason, traceback=tail, **common)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
