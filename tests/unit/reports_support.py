"""Helpers for the report tests: recorded run directories (copied, never written in place) and a
synthetic run of any size built from a recorded cell's real figures."""

from __future__ import annotations

import itertools
import json
import math
import shutil
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from qlora_check.matrix.axes import BACKENDS, PRECISIONS
from qlora_check.matrix.cell import Cell
from qlora_check.results.models import SEVERITY, ErrorInfo, Status
from qlora_check.results.store import RESULTS_FILE, RunWriter, read_results, read_run

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "runs"
MIXED = "mixed"  # tests/fixtures/runs/mixed.yaml: every status a CPU host gives, and a hostile model name
SMOKE = "smoke"  # matrices/smoke.yaml: eight passing cells
HOSTILE = "<img src=x onerror=alert(1)><script>alert(2)</script>"


def copy_run(name: str, destination: Path) -> Path:
    """A private copy of a recorded run directory (reports are written into the run directory)."""
    target = destination / name
    shutil.copytree(FIXTURES / name, target)
    return target


def synthetic_run(directory: Path, cells: int = 1000) -> Path:
    """A run of ``cells`` cells with the figures of a real passing cell; one in ten fails, with a log."""
    template = next(r for r in read_results(FIXTURES / SMOKE).results if r.status is Status.PASS)
    run = read_run(FIXTURES / SMOKE)
    writer = RunWriter(directory)
    writer.acquire()
    writer.write_run({k: v for k, v in run.items() if k != "schema_version"} | {"run_id": directory.name})
    quantizers = ("none", "bnb-nf4", "hqq-4bit", "quanto-int4", "mlx-4bit")
    train_types = ("lora", "qlora", "dora", "custom_lora", "full")
    combos = itertools.product(BACKENDS, quantizers, train_types, PRECISIONS, range(math.ceil(cells / 600)))
    failures = [s for s in SEVERITY if s is not Status.INTERRUPTED]
    losses = [6.0 * 0.97**step for step in range(40)]
    log_text = "".join(f"log line {i}: step {i % 40} loss {losses[i % 40]:.4f}\n" for i in range(200))
    lines = []
    for index, (backend, quantizer, train_type, precision, seed) in enumerate(itertools.islice(combos, cells)):
        values = {"backend": backend, "quantizer": quantizer, "train_type": train_type, "precision": precision}
        cell = Cell.from_values({**values, "seed": seed})
        status = Status.PASS if index % 10 else failures[(index // 10) % len(failures)]
        log = writer.log_path(cell.id)
        log.write_text(log_text, encoding="utf-8")
        failed = status is not Status.PASS
        result = replace(
            template,
            cell_id=cell.id,
            label=cell.label,
            values=cell.values,
            status=status,
            reason=f"synthetic {status.value}" if failed else "",
            losses=losses,
            lrs=[3e-3 * (1 - step / 40) for step in range(40)],
            error=ErrorInfo("builtins.RuntimeError", "synthetic", "Traceback\n" * 20) if failed else None,
            log_path=str(log),
        )
        lines.append(json.dumps(result.to_dict()) + "\n")
    (directory / RESULTS_FILE).write_text("".join(lines), encoding="utf-8")  # one write: no fsync per line
    writer.release()
    return directory


def edited_run(
    name: str,
    destination: Path,
    target: str,
    *,
    started_at: str | None = None,
    libraries: dict[str, str | None] | None = None,
    cells: dict[str, dict[str, object]] | None = None,
    drop: tuple[str, ...] = (),
) -> Path:
    """A copy of a recorded run under ``destination/target`` with some facts changed, as a later night's
    run would have them: its start time, library versions, some cells' fields (status, reason, memory,
    expected, ...), and cells dropped."""
    run_dir = destination / target
    shutil.copytree(FIXTURES / name, run_dir)
    run = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    run["run_id"] = target
    if started_at is not None:  # the run took as long as the recorded one
        shift = datetime.fromisoformat(started_at) - datetime.fromisoformat(run["started_at"])
        run["started_at"] = started_at
        run["ended_at"] = (datetime.fromisoformat(run["ended_at"]) + shift).isoformat()
    if libraries:
        run["host"]["libraries"].update(libraries)
    (run_dir / "run.json").write_text(json.dumps(run, indent=2), encoding="utf-8")
    lines = []
    for line in (run_dir / RESULTS_FILE).read_text(encoding="utf-8").splitlines():
        result = json.loads(line)
        if result["cell_id"] in drop:
            continue
        result = {"attempts": [], "expected": None, **result, "schema_version": 2}  # `expected` is a v2 field
        result.update((cells or {}).get(result["cell_id"], {}))
        lines.append(json.dumps(result) + "\n")
    (run_dir / RESULTS_FILE).write_text("".join(lines), encoding="utf-8")
    return run_dir


NIGHTS_PASS_CELL = "940df7f2a4fc"  # cpu/none/lora/.../constant: passes in the recording
NIGHTS_FAIL_CELL = "cad34d2017d3"  # cpu/none/lora/.../cosine: fails the learned check in the recording
NIGHTS_ERROR_CELL = "e3ed61fe3cf5"  # cpu/bnb-nf4/qlora: errors in the recording
NIGHTS_NA_CELL = "3b131cdeb476"


def recorded_nights(tmp_path: Path) -> Path:
    """ROOT/runs/ with four nights of the mixed matrix; directory names sort against time on purpose.

    Nights 1, 2: as recorded; night 2 uses less memory in the pass cell. Night 3: torch upgraded, the pass
    cell fails, the n/a cell is gone. Night 4: peft upgraded too, the pass cell errors, the fail cell
    xpasses, the error cell passes.
    """
    runs = tmp_path / "reports" / "runs"
    runs.mkdir(parents=True)
    edited_run(MIXED, runs, "d-night1", started_at="2026-11-20T07:00:00+00:00")
    edited_run(
        MIXED,
        runs,
        "c-night2",
        started_at="2026-11-21T07:00:00+00:00",
        cells={NIGHTS_PASS_CELL: {"memory": {"peak_rss_mb": 40.0}}},
    )
    edited_run(
        MIXED,
        runs,
        "b-night3",
        started_at="2026-11-22T07:00:00+00:00",
        libraries={"torch": "2.14.0+cpu"},
        cells={NIGHTS_PASS_CELL: {"status": "fail", "reason": "learned: <b>no</b>"}},
        drop=(NIGHTS_NA_CELL,),
    )
    edited_run(
        MIXED,
        runs,
        "a-night4",
        started_at="2026-11-23T07:00:00+00:00",
        libraries={"torch": "2.14.0+cpu", "peft": "0.22.0"},
        cells={
            NIGHTS_PASS_CELL: {"status": "error", "reason": "boom"},
            NIGHTS_FAIL_CELL: {"status": "xpass", "expected": {"status": "fail", "reason": "known", "strict": False}},
            NIGHTS_ERROR_CELL: {"status": "pass", "reason": ""},
        },
    )
    return tmp_path / "reports"
