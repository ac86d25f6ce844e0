"""The run directory: complete fsynced lines, torn-line tolerance, versions, the lock."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from qlora_check.errors import ResultsError, RunLockedError
from qlora_check.results.models import CellResult, CheckResult, ErrorInfo, Status
from qlora_check.results.store import RunWriter, point_latest, read_results, read_run


def a_result(cell_id: str = "abc", status: Status = Status.PASS, **extra: object) -> CellResult:
    return CellResult(cell_id=cell_id, label="cpu/none/lora", values={"backend": "cpu"}, status=status, **extra)  # type: ignore[arg-type]


def test_results_round_trip_including_non_finite_losses(tmp_path: Path) -> None:
    writer = RunWriter(tmp_path)
    writer.acquire()
    original = a_result(
        status=Status.FAIL,
        losses=[5.0, float("nan"), float("inf")],
        lrs=[0.1, 0.1, 0.1],
        checks=[CheckResult("finite", False, "nan at step 1", {"first_bad_step": 1})],
        error=ErrorInfo("ValueError", "boom", "trace"),
    )
    writer.append(original)
    line = (tmp_path / "results.jsonl").read_text().splitlines()[0]
    json.loads(line, parse_constant=lambda name: pytest.fail(f"non-strict JSON constant {name}"))
    (back,) = read_results(tmp_path).results
    assert back.status is Status.FAIL and back.checks == original.checks and back.error == original.error
    assert back.losses[0] == 5.0 and math.isnan(back.losses[1]) and back.losses[2] == math.inf


def test_a_torn_last_line_is_skipped_with_a_warning(tmp_path: Path) -> None:
    writer = RunWriter(tmp_path)
    writer.acquire()
    writer.append(a_result("one"))
    with open(tmp_path / "results.jsonl", "a") as handle:
        handle.write('{"schema_version": 1, "cell_id": "tw')
    read = read_results(tmp_path)
    assert [r.cell_id for r in read.results] == ["one"]
    assert "torn last line" in read.warnings[0]


def test_a_corrupt_middle_line_is_an_error_not_silence(tmp_path: Path) -> None:
    (tmp_path / "results.jsonl").write_text("garbage\n" + json.dumps(a_result().to_dict()) + "\n")
    with pytest.raises(ResultsError, match="line 1"):
        read_results(tmp_path)


def test_newer_schema_versions_are_refused(tmp_path: Path) -> None:
    (tmp_path / "results.jsonl").write_text(json.dumps({**a_result().to_dict(), "schema_version": 99}) + "\n")
    with pytest.raises(ResultsError, match="newer than this qlora-check reads"):
        read_results(tmp_path)
    (tmp_path / "run.json").write_text(json.dumps({"schema_version": 99}))
    with pytest.raises(ResultsError, match="schema_version 99"):
        read_run(tmp_path)


def test_final_keeps_the_last_final_result_of_each_cell(tmp_path: Path) -> None:
    writer = RunWriter(tmp_path)
    writer.acquire()
    writer.append(a_result("a", Status.INTERRUPTED))
    writer.append(a_result("a", Status.PASS))
    writer.append(a_result("b", Status.INTERRUPTED))
    final = read_results(tmp_path).final()
    assert {k: v.status for k, v in final.items()} == {"a": Status.PASS, "b": Status.INTERRUPTED}


HOLD_LOCK = (
    "import fcntl, os, sys, time\n"
    "handle = open(sys.argv[1], 'a+')\n"
    "fcntl.flock(handle.fileno(), fcntl.LOCK_EX)\n"
    "handle.seek(0); handle.truncate(); handle.write(str(os.getpid())); handle.flush()\n"
    "print('held', flush=True)\n"
    "time.sleep(30)\n"
)


def test_the_lock_refuses_a_live_writer_and_takes_over_a_dead_ones(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(tmp_path / ".lock")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(RunLockedError, match=f"pid {holder.pid}"):
            RunWriter(tmp_path).acquire()
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
    RunWriter(tmp_path).acquire()  # the owner is dead now: the kernel released its lock
    assert (tmp_path / ".lock").read_text() == str(os.getpid())


def test_latest_points_at_the_run(tmp_path: Path) -> None:
    run = tmp_path / "runs" / "r1"
    run.mkdir(parents=True)
    point_latest(tmp_path, run)
    assert (tmp_path / "latest").resolve() == run.resolve()
    assert not os.readlink(tmp_path / "latest").startswith("/")


def test_older_schema_versions_are_migrated(tmp_path: Path) -> None:
    v1_line = {k: v for k, v in a_result("old").to_dict().items() if k != "attempts"}
    v1_line["schema_version"] = 1
    (tmp_path / "results.jsonl").write_text(json.dumps(v1_line) + "\n")
    (back,) = read_results(tmp_path).results
    assert back.cell_id == "old" and back.attempts == [] and back.schema_version == 2
    v1_run = {"schema_version": 1, "run_id": "r", "status": "finished", "settings": {"jobs": 2}}
    (tmp_path / "run.json").write_text(json.dumps(v1_run))
    run = read_run(tmp_path)
    assert run["schema_version"] == 2 and run["resumes"] == [] and run["settings"] == {"retries": 0, "jobs": 2}


def test_non_finite_figures_anywhere_stay_strict_json(tmp_path: Path) -> None:
    # A NaN loss makes the learned check's figures NaN too: the result must still be written.
    writer = RunWriter(tmp_path)
    writer.acquire()
    check = CheckResult(
        "learned", False, "losses are not finite", {"early_mean": float("nan"), "inner": [float("-inf")]}
    )
    writer.append(a_result(status=Status.FAIL, checks=[check], memory={"peak": float("inf")}))
    (back,) = read_results(tmp_path).results
    assert back.checks[0].figures == {"early_mean": "nan", "inner": ["-inf"]} and back.memory == {"peak": "inf"}
