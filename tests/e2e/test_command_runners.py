"""Command runners through the real CLI: real trainers (mlx-lm, TRL) as cells, broken runners, bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, pythonpath_env, write_matrix

EXAMPLES = REPO / "examples" / "runners"
BROKEN = REPO / "tests" / "matrices" / "broken-runners.yaml"
SECRET = "value-that-must-never-be-written-7f3a"


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One materialised model and data set for the module (building it takes half a minute)."""
    return tmp_path_factory.mktemp("materialised-cache")


def qlora_check(*args: str, cache: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = pythonpath_env()
    if cache is not None:
        env["QLORA_CHECK_CACHE_DIR"] = str(cache)
    return subprocess.run(
        [sys.executable, "-m", "qlora_check", *args],
        capture_output=True, text=True, cwd=REPO, env=env, timeout=timeout, check=False,
    )  # fmt: skip


def results_by_runner(run_dir: Path) -> dict[str, dict[str, Any]]:
    lines = (run_dir / "results.jsonl").read_text().splitlines()
    results = [json.loads(line) for line in lines if line.strip()]
    return {result["values"]["runner"]: result for result in results}


@pytest.mark.slow
def test_broken_runners_each_get_their_verdict_and_the_run_goes_on(tmp_path: Path, shared_cache: Path) -> None:
    run_dir = tmp_path / "run"
    completed = qlora_check("run", str(BROKEN), "--out", str(run_dir), "--jobs", "2", cache=shared_cache)
    assert completed.returncode == 1, completed.stdout + completed.stderr  # failures, not a crash of the run
    by_runner = results_by_runner(run_dir)
    assert set(by_runner) == {"missing-model", "huge-lr", "wrong-reader", "not-on-path", "argv"}
    statuses = {name: result["status"] for name, result in by_runner.items()}
    assert statuses == {
        "missing-model": "error",
        "huge-lr": "fail",
        "wrong-reader": "fail",
        "not-on-path": "error",
        "argv": "pass",
    }, {name: result["reason"] for name, result in by_runner.items()}
    for result in by_runner.values():
        assert "\n" not in result["reason"]  # one line each
    assert by_runner["missing-model"]["reason"].startswith("trainer exited with 1: ")
    assert "no-such-model" in by_runner["missing-model"]["error"]["traceback"]  # the trainer's own output
    assert "finite" in by_runner["huge-lr"]["reason"] or "learned" in by_runner["huge-lr"]["reason"]
    assert "no loss lines found (reader mlx-lm read stdout.log, 0 matches)" in by_runner["wrong-reader"]["reason"]
    assert by_runner["not-on-path"]["reason"].startswith("command could not start: qlora-check-no-such-trainer")
    argv = by_runner["argv"]["engine"]["argv"]
    assert argv[-3:] == ["--name", ";rm -rf x", "plain"]  # one element, never a shell command
    assert "QC_TEST_SECRET" in by_runner["argv"]["engine"]["env_names"]
    assert by_runner["argv"]["engine"]["reader"]["matches"] == 8
    completed = qlora_check("report", "--html", str(run_dir))
    assert completed.returncode == 0, completed.stderr
    written = [path for path in run_dir.rglob("*") if path.is_file()]
    assert any(path.name == "report.html" for path in written)
    for path in written:  # results, run.json, reports, logs: the env value is nowhere
        assert SECRET not in path.read_text(errors="replace"), path


@pytest.mark.slow
@pytest.mark.parametrize("example", ["mlx-lm.yaml", "trl.yaml"])
def test_the_example_trainers_pass_as_real_cells(example: str, tmp_path: Path, shared_cache: Path) -> None:
    pytest.importorskip("mlx_lm" if example == "mlx-lm.yaml" else "trl")
    run_dir = tmp_path / "run"
    completed = qlora_check("run", str(EXAMPLES / example), "--out", str(run_dir), cache=shared_cache, timeout=1800)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    lines = (run_dir / "results.jsonl").read_text().splitlines()
    results = [json.loads(line) for line in lines if line.strip()]
    assert len(results) == 2 and {r["status"] for r in results} == {"pass"}
    for result in results:
        checks = {check["name"]: check["passed"] for check in result["checks"]}
        assert checks["learned"] and checks["finite"] and checks["artifact"] and checks["steps"]
        assert len(result["losses"]) == 30 and result["memory"]["peak_tree_rss_mb"] > 50
        if example == "trl.yaml":  # TRL logs its LR: the linear schedule is checked against the closed form
            assert checks["lr_schedule"]
        else:
            assert "lr_schedule" in result["engine"]["not_checked"]


def test_plan_marks_unsupported_cells_n_a_with_the_runner_s_reason(tmp_path: Path) -> None:
    matrix = write_matrix(
        tmp_path,
        "version: 1\nname: r\nrunners:\n  trl:\n    command: trl sft --max_steps {steps}\n"
        "    supports: {precision: [fp32]}\naxes:\n  runner: [builtin, trl]\n  precision: [fp32, fp16]\n",
    )
    completed = qlora_check("plan", str(matrix), "--json", "--show-na")
    assert completed.returncode == 0, completed.stderr
    planned = json.loads(completed.stdout)
    # n/a combinations of the axes are left out of the plan and listed, with their reason, under not_applicable.
    cells = [*planned["cells"], *planned["not_applicable"]["cells"]]
    reasons = {(c["values"]["runner"], c["values"]["precision"]): (c["planned"], c["reason"]) for c in cells}
    assert reasons[("trl", "fp16")] == ("n/a", "runner trl does not run precision fp16")
    assert reasons[("trl", "fp32")][0] == "run"
    assert planned["not_applicable"]["reasons"] == {"runner trl does not run precision fp16": 1}


@pytest.mark.parametrize(
    ("runners", "axes", "message"),
    [
        ("  trl:\n    command: trl sft --max_steps {stepz}\n", "runner: trl", "runners.trl.command (line 5"),
        ("  trl:\n    command: trl sft\n    metrics: tensorboard\n", "runner: trl", "runners.trl.metrics (line 6"),
        ("  trl:\n    command: trl sft\n    metrics: {regex: '(no group)'}\n", "runner: trl", "no named group 'loss'"),
        ("  trl:\n    command: trl sft\n", "runner: [trl, tlr]", "unknown runner 'tlr'"),
    ],
)
def test_bad_runner_input_exits_2_with_the_yaml_line(tmp_path: Path, runners: str, axes: str, message: str) -> None:
    matrix = write_matrix(tmp_path, f"version: 1\nname: r\nrunners:\n{runners}axes:\n  {axes}\n")
    completed = qlora_check("plan", str(matrix))
    assert completed.returncode == 2, completed.stdout + completed.stderr
    assert message in completed.stdout + completed.stderr
    assert "Traceback" not in completed.stderr
