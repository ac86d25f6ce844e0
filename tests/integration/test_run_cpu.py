"""Real cells on CPU through the core run pipeline: statuses, the run directory, faults survived."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qlora_check.events import CellFinished
from qlora_check.execution.run import RunOptions
from qlora_check.results.models import Status
from qlora_check.results.store import read_results, read_run
from tests.conftest import run_and_report, write_matrix

pytestmark = pytest.mark.slow

MATRIX = """
version: 1
name: integration
axes:                       # every axis an include names is an original axis, so that
  backend: [cpu]            # each include contradicts one and becomes a cell of its own
  train_type: [full, lora]
  steps: [24]
  lr: [0.003]
  inject: [none]
include:
  - {steps: 24, lr: 0.0}    # cannot learn: must fail the learned check
  - {inject: raise}         # an exception: error
  - {inject: segfault}      # a signal: crash
  - {inject: hang}          # too long: timeout
  - {train_type: qlora}     # n/a by definition
  - {backend: cuda}         # skip here (no GPU)
settings: {timeout: 60}
"""


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, int]:
    directory = tmp_path_factory.mktemp("run")
    matrix = write_matrix(directory, MATRIX)
    root = directory / "reports"
    events: list[object] = []
    outcome = run_and_report(RunOptions(matrix_path=matrix, root=root, jobs=2, timeout=25), events.append)
    finished = [event.result for event in events if isinstance(event, CellFinished)]
    # one CellFinished per cell, carrying the recorded (judged) result: the progress bar counts these
    assert sorted(r.cell_id for r in finished) == sorted(outcome.results)
    assert {r.cell_id: r.status for r in finished} == {k: r.status for k, r in outcome.results.items()}
    return outcome.run_dir, root, outcome.exit_code


def by_label(run_dir: Path) -> dict[str, object]:
    return {r.label: r for r in read_results(run_dir).final().values()}


def test_each_cell_gets_the_status_its_fate_deserves(finished_run: tuple[Path, Path, int]) -> None:
    run_dir, _, exit_code = finished_run
    statuses = {label: result.status for label, result in by_label(run_dir).items()}  # type: ignore[attr-defined]
    assert statuses == {
        "cpu/none/full/fp32/adamw/constant steps=24 lr=0.003": Status.PASS,  # lr given: shown (default: auto)
        "cpu/none/lora/fp32/adamw/constant steps=24 lr=0.003": Status.PASS,
        "cpu/none/lora/fp32/adamw/constant steps=24 lr=0.0": Status.FAIL,
        "cpu/none/lora/fp32/adamw/constant inject=raise": Status.ERROR,
        "cpu/none/lora/fp32/adamw/constant inject=segfault": Status.CRASH,
        "cpu/none/lora/fp32/adamw/constant inject=hang": Status.TIMEOUT,
        "cpu/none/qlora/fp32/adamw/constant": Status.NOT_APPLICABLE,
        "cuda/none/lora/fp32/adamw/constant": Status.SKIP,
    }
    assert exit_code == 1


def test_a_passing_cell_really_trained_and_recorded_its_evidence(finished_run: tuple[Path, Path, int]) -> None:
    run_dir, _, _ = finished_run
    lora = by_label(run_dir)["cpu/none/lora/fp32/adamw/constant steps=24 lr=0.003"]
    assert len(lora.losses) == 24 and len(lora.lrs) == 24  # type: ignore[attr-defined]
    assert lora.losses[-1] < lora.losses[0] * 0.8  # type: ignore[attr-defined]
    checks = {c.name: c for c in lora.checks}  # type: ignore[attr-defined]
    assert checks["finite"].passed and checks["learned"].passed
    assert checks["learned"].figures["relative_drop"] >= 0.2
    assert lora.memory["peak_rss_mb"] > 0 and set(lora.memory["phases_mb"]) == {"load", "adapters", "train"}  # type: ignore[attr-defined]
    assert lora.tokens_per_s > 0 and lora.timings["train_s"] > 0  # type: ignore[attr-defined]
    params = lora.engine["parameters"]  # type: ignore[attr-defined]
    assert 0 < params["trainable"] < params["total"]
    full = by_label(run_dir)["cpu/none/full/fp32/adamw/constant steps=24 lr=0.003"]
    assert full.engine["parameters"]["trainable"] == full.engine["parameters"]["total"]  # type: ignore[attr-defined]


def test_faults_are_recorded_with_their_evidence(finished_run: tuple[Path, Path, int]) -> None:
    run_dir, _, _ = finished_run
    results = by_label(run_dir)
    error = results["cpu/none/lora/fp32/adamw/constant inject=raise"]
    assert error.error.type == "builtins.RuntimeError" and "injected fault: raise" in error.error.message  # type: ignore[attr-defined]
    assert "Traceback" in error.error.traceback  # type: ignore[attr-defined]
    crash = results["cpu/none/lora/fp32/adamw/constant inject=segfault"]
    assert crash.reason == "killed by SIGSEGV"  # type: ignore[attr-defined]
    timeout = results["cpu/none/lora/fp32/adamw/constant inject=hang"]
    assert "25 s timeout" in timeout.reason  # type: ignore[attr-defined]
    failed = results["cpu/none/lora/fp32/adamw/constant steps=24 lr=0.0"]
    assert failed.reason.startswith("learned:")  # type: ignore[attr-defined]
    assert results["cpu/none/qlora/fp32/adamw/constant"].reason  # type: ignore[attr-defined]
    assert "CUDA" in results["cuda/none/lora/fp32/adamw/constant"].reason  # type: ignore[attr-defined]


def test_the_run_directory_is_complete(finished_run: tuple[Path, Path, int]) -> None:
    run_dir, root, _ = finished_run
    run = read_run(run_dir)
    assert run["status"] == "finished" and run["ended_at"] and run["matrix"]["name"] == "integration"
    assert "inject: hang" in run["matrix"]["content"]
    assert run["host"]["libraries"]["torch"] and run["host"]["cores"] >= 1
    assert run["summary"]["pass"] == 2 and run["summary"]["n/a"] == 1 and sum(run["summary"].values()) == 8
    lines = (run_dir / "results.jsonl").read_text().splitlines()
    assert len(lines) == 8 and all(json.loads(line)["schema_version"] == 2 for line in lines)
    ran = [r for r in read_results(run_dir).results if r.status not in (Status.SKIP, Status.NOT_APPLICABLE)]
    for result in ran:
        assert result.log_path and Path(result.log_path).is_file()
    assert (root / "latest").resolve() == run_dir.resolve()
    assert not (run_dir / ".lock").exists()
