"""The `command` runner: a user's trainer (TRL, mlx-lm, LLaMA-Factory, torchtune, fsdp_qlora, a script) as a cell.

pyperf's `BenchCommandTask` shape: an external command measured as a task of the same shape as the built-in
one. The cell's values fill the runner's argv template; the trainer runs in the cell's work dir with an
allow-listed environment; its own output is read back by the runner's metrics reader and judged by the
same checks as built-in cells. How the trainer ended decides first: not started or a non-zero exit is
`error` (with its output's tail), a signal `crash`, the runner's limit `timeout`, allocator messages `oom`.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from qlora_check.engines.checks import expected_lrs, finite_check, learned_check, lr_schedule_check
from qlora_check.engines.interface import CellContext, EngineOutput
from qlora_check.engines.tiny_models import TINY_MODELS
from qlora_check.fileio import cache_dir
from qlora_check.matrix.axes import SCHEDULERS
from qlora_check.matrix.cell import Cell
from qlora_check.matrix.runners import RunnerDefinition, fill
from qlora_check.results.models import CheckResult
from qlora_check.runners.command_env import trainer_env
from qlora_check.runners.command_rules import value_text
from qlora_check.runners.interface import CellFailed, RunnerSpec
from qlora_check.runners.readers import make_reader
from qlora_check.runners.readers.interface import ReaderInput, ReadReport
from qlora_check.runners.trainer_process import TrainerOutcome, output_tail, run_trainer

SPEC = RunnerSpec(
    name="command",
    description="a trainer command of the matrix' runners: section, its losses read by a metrics reader",
    run="qlora_check.runners.command:run",
)
OUTPUT_FILE, METRICS_FILE = "stdout.log", "metrics.jsonl"
LR_REL_TOL = 1e-3  # trainers print learning rates rounded to 4 significant digits
OOM_MARKERS = ("out of memory", "outofmemoryerror", "memoryerror", "cannot allocate memory", "std::bad_alloc")


def placeholder_values(cell: Cell, definition: RunnerDefinition, work_dir: Path, cache_root: Path) -> dict[str, str]:
    """Every placeholder's text for this cell; the model and data folders are built only when used."""
    values = {name: value_text(value) for name, value in cell.values.items()}
    values.update(
        work_dir=str(work_dir),
        python=os.path.expanduser(definition.python) if definition.python else sys.executable,
        matrix_dir=definition.matrix_dir or os.getcwd(),
    )
    model = str(cell.values["model"])
    if definition.uses("model") or definition.uses("data"):
        from qlora_check.runners.materialise import materialise

        built = materialise(model if model in TINY_MODELS else "tiny-llama", str(cell.values["dataset"]), cache_root)
        # A path or Hub id of the user's own is passed as written: the trainer's own exit is the verdict.
        values.update(model=str(built.model) if model in TINY_MODELS else model, data=str(built.data))
    else:
        values.update(model=model, data=str(cell.values["dataset"]))
    return values


def build_argv(cell: Cell, definition: RunnerDefinition, values: Mapping[str, str]) -> list[str]:
    """The command with placeholders filled, each template element one argv element, then the axis args."""
    argv = [fill(part, values) for part in definition.command]
    for axis, by_value in definition.args.items():
        argv += [fill(part, values) for part in by_value.get(value_text(cell.values[axis]), ())]
    return argv


def classify(outcome: TrainerOutcome, output: Path, timeout_s: float | None) -> CellFailed | None:
    """The status of a trainer that did not end well (None when it exited 0)."""
    tail = output_tail(output)
    if outcome.not_started is not None:
        return CellFailed("error", f"command could not start: {outcome.not_started}", tail)
    if outcome.timed_out:
        return CellFailed("timeout", f"trainer ran past the runner's timeout of {timeout_s:g} s", tail)
    code = outcome.returncode
    if code == 0:
        return None
    lowered = tail.lower()
    if any(marker in lowered for marker in OOM_MARKERS):
        return CellFailed("oom", f"trainer ran out of memory (exit {code}): {_last_line(tail)}", tail)
    if code is not None and code < 0:
        name = signal.Signals(-code).name if -code in signal.valid_signals() else str(-code)
        return CellFailed("crash", f"trainer killed by {name}", tail)
    return CellFailed("error", f"trainer exited with {code}: {_last_line(tail)}", tail)


def _last_line(tail: str) -> str:
    """The line a user needs: the last exception line, else the last line."""
    lines = [line.strip() for line in tail.splitlines() if line.strip()]
    for line in reversed(lines):
        head = line.split(":", 1)[0]
        if head.endswith(("Error", "Exception", "Exit")) or line.startswith(("error:", "Error:")):
            return line[:300]
    return lines[-1][:300] if lines else "(no output)"


def expected_steps(cell: Cell, definition: RunnerDefinition) -> int:
    """How many loss points the reader must find: `min_steps`, else the cell's steps when the command
    takes `{steps}`, else 4 (the fewest the `learned` check can judge)."""
    if definition.min_steps is not None:
        return definition.min_steps
    return int(cell.values["steps"]) if definition.uses("steps") else 4


def judge(
    cell: Cell, definition: RunnerDefinition, report: ReadReport, values: Mapping[str, str], margin: float
) -> tuple[list[CheckResult], dict[str, str]]:
    """The checks on what the reader found, and the checks not made (with why)."""
    if not report.points:
        return [CheckResult("metrics", False, report.empty_reason(), report.to_dict())], {}
    losses = report.losses
    expected = expected_steps(cell, definition)
    checks = [
        CheckResult("metrics", True, f"reader {report.reader} read {report.source}, {report.matches} matches",
                    report.to_dict()),
        CheckResult("steps", len(losses) >= expected, f"{len(losses)} loss points, expected at least {expected}",
                    {"points": len(losses), "expected": expected}),
        finite_check(losses),
        learned_check(losses, margin),
    ]  # fmt: skip
    not_checked: dict[str, str] = {}
    schedule = fill(definition.schedule, values) if definition.schedule else None
    lrs = report.lrs
    if schedule is None:
        not_checked["lr_schedule"] = "the runner declares no schedule"
    elif schedule not in SCHEDULERS:
        not_checked["lr_schedule"] = f"unknown schedule {schedule!r}"
    elif lrs is None:
        not_checked["lr_schedule"] = f"reader {report.reader} saw no learning rate"
    else:
        steps = int(cell.values["steps"])
        expected_lr = expected_lrs(schedule, float(cell.values["lr"]), steps, 0)
        # Trainers log every step or every N: compare the steps they logged (1-based) with the closed form.
        picked = [(point.step, lr) for point, lr in zip(report.points, lrs, strict=True) if 1 <= point.step <= steps]
        checks.append(
            lr_schedule_check([lr for _, lr in picked], [expected_lr[step - 1] for step, _ in picked], LR_REL_TOL)
        )
    if definition.artifact:
        checks.append(artifact_check(Path(values["work_dir"]), fill(definition.artifact, values)))
    return checks, not_checked


def artifact_check(work_dir: Path, pattern: str) -> CheckResult:
    """The output the command must leave exists and is not empty (a glob, relative to the work dir)."""
    root = Path(pattern) if Path(pattern).is_absolute() else work_dir / pattern
    found = [path for path in root.parent.glob(root.name) if path.is_file() and path.stat().st_size > 0]
    if found:
        return CheckResult("artifact", True, f"{pattern} written ({found[0].stat().st_size} bytes)", {"path": pattern})
    return CheckResult("artifact", False, f"{pattern} was not written (or is empty)", {"path": pattern})


def run(cell: Cell, context: CellContext) -> EngineOutput:
    """Run the cell's trainer command and judge what it reported."""
    if context.runner is None:
        raise ValueError("the command runner needs the runner's definition in the job spec")
    definition = RunnerDefinition.from_dict(context.runner)
    reader = make_reader(definition.metrics)
    work_dir = context.work_dir.resolve()
    values = placeholder_values(cell, definition, work_dir, cache_dir())
    argv = build_argv(cell, definition, values)
    added = {name: fill(value, values) for name, value in definition.env.items()}
    output, metrics = work_dir / OUTPUT_FILE, work_dir / METRICS_FILE
    metrics.unlink(missing_ok=True)  # a retry must not read the previous attempt's points
    env = trainer_env(threads=context.threads, metrics_path=metrics, added=added, python=definition.python)
    cwd = work_dir / fill(definition.cwd, values) if definition.cwd else work_dir
    cwd.mkdir(parents=True, exist_ok=True)
    outcome = run_trainer(
        argv, env=env, cwd=cwd, output=output, timeout_s=definition.timeout,
        gpu=str(cell.values["backend"]) == "cuda",
    )  # fmt: skip
    info: dict[str, Any] = {
        "runner": definition.name,
        "argv": argv,
        "env_names": sorted(env),  # names only: values may be secrets
        "cwd": str(cwd),
        "output": OUTPUT_FILE,
        "returncode": outcome.returncode,
    }
    failure = classify(outcome, output, definition.timeout)
    if failure is not None:
        failure.info.update(info)
        raise failure
    report = reader.read(ReaderInput(work_dir=work_dir, output=output, metrics=metrics))
    margin = definition.learned_margin if definition.learned_margin is not None else context.learned_margin
    checks, not_checked = judge(cell, definition, report, values, margin)
    info.update(reader=report.to_dict(), not_checked=not_checked, learned_margin=margin)
    memory: dict[str, Any] = {
        "peak_rss_mb": round(outcome.peak_rss_mb, 1),  # what summaries and compare read, for every runner
        "peak_tree_rss_mb": round(outcome.peak_rss_mb, 1),
        "method": "psutil: sum of RSS over the trainer's process tree, sampled",
        "samples": outcome.samples,
    }
    if outcome.peak_gpu_mb is not None:
        memory["peak_gpu_mb"] = round(outcome.peak_gpu_mb, 1)
    return EngineOutput(
        losses=report.losses,
        lrs=report.lrs or [],
        checks=checks,
        memory=memory,
        timings={"train_s": round(outcome.duration_s, 3)},
        info=info,
    )
