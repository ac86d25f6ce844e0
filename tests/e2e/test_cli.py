"""The real CLI: plan, schema, run, exit codes, and user mistakes answered without a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qlora_check.cli import app
from tests.conftest import MATRICES, REPO, heavy_modules_imported_by, pythonpath_env, write_matrix

runner = CliRunner()


def qlora_check(*args: str, cwd: Path = REPO, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "qlora_check", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=pythonpath_env(),
        timeout=timeout,
        check=False,
    )


def test_plan_shows_every_cell_with_what_will_happen() -> None:
    result = runner.invoke(app, ["plan", str(MATRICES / "smoke.yaml")])
    assert result.exit_code == 0, result.output
    assert "cpu/none/lora/fp32/adamw/cosine" in result.output and "run" in result.output


def test_plan_json_gives_ids_values_and_planned_status(tmp_path: Path) -> None:
    matrix = write_matrix(tmp_path, "version: 1\nname: p\naxes: {train_type: [lora, qlora], backend: [cpu, cuda]}\n")
    result = runner.invoke(app, ["plan", str(matrix), "--json"])
    assert result.exit_code == 0
    document = json.loads(result.output)
    cells = {cell["label"]: cell for cell in document["cells"]}
    assert len(cells) == 2, "qlora without a quantizer is n/a: left out of the plan, counted"
    assert document["not_applicable"]["count"] == 2
    assert cells["cpu/none/lora/fp32/adamw/constant"]["planned"] == "run"
    cuda = cells["cuda/none/lora/fp32/adamw/constant"]
    assert cuda["planned"] == "skip" and "CUDA" in cuda["reason"]
    assert cuda["values"]["steps"] == 40 and len(cuda["id"]) == 12  # defaults filled in


def test_schema_is_json_schema_with_the_axes() -> None:
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0
    assert "quantizer" in json.loads(result.output)["properties"]["axes"]["properties"]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("version: 1\nname: x\naxes: {optimizer: adamww}", "Did you mean 'adamw'"),
        ("version: 1\nname: x\naxes: {train_type: [lora}", "not valid YAML"),
        ("just a string", "must be a mapping"),
    ],
)
def test_a_malformed_matrix_is_one_line_exit_2_no_traceback(tmp_path: Path, text: str, fragment: str) -> None:
    matrix = write_matrix(tmp_path, text)
    for command in (["plan", str(matrix)], ["run", str(matrix), "--root", str(tmp_path)]):
        completed = qlora_check(*command, timeout=120)
        assert completed.returncode == 2, completed.stderr
        assert fragment in completed.stderr and "Traceback" not in completed.stderr + completed.stdout
        assert "Tip:" in completed.stderr


def test_a_missing_matrix_file_is_exit_2(tmp_path: Path) -> None:
    completed = qlora_check("plan", str(tmp_path / "nope.yaml"), timeout=120)
    assert completed.returncode == 2 and "no such file" in completed.stderr


@pytest.mark.slow
def test_run_exit_code_is_1_when_a_cell_fails_and_results_are_kept(tmp_path: Path) -> None:
    matrix = write_matrix(tmp_path, "version: 1\nname: x\naxes: {steps: 16, lr: [0.003, 0.0]}\n")
    completed = qlora_check("run", str(matrix), "--root", str(tmp_path / "reports"), "--jobs", "2")
    assert completed.returncode == 1, completed.stdout + completed.stderr
    lines = (tmp_path / "reports" / "latest" / "results.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["status"] for line in lines) == ["fail", "pass"]
    assert "✗ fail" in completed.stdout and "learned" in completed.stdout


@pytest.mark.slow
def test_the_bundled_smoke_matrix_passes_through_the_cli(tmp_path: Path) -> None:
    completed = qlora_check("run", "matrices/smoke.yaml", "--root", str(tmp_path / "reports"), "--jobs", "2")
    assert completed.returncode == 0, completed.stdout + completed.stderr
    results = [
        json.loads(line) for line in (tmp_path / "reports" / "latest" / "results.jsonl").read_text().splitlines()
    ]
    assert results and all(result["status"] in ("pass", "skip", "n/a") for result in results)
    assert any(result["status"] == "pass" for result in results)
    assert "report: " in completed.stdout and (tmp_path / "reports" / "latest" / "report.html").is_file()


def test_help_and_plan_never_import_the_heavy_libraries() -> None:
    statements = (
        "from typer.testing import CliRunner\n"
        "from qlora_check.cli import app\n"
        "runner = CliRunner()\n"
        "assert runner.invoke(app, ['--help']).exit_code == 0\n"
        "assert runner.invoke(app, ['plan', 'matrices/cpu.yaml', '--json']).exit_code == 0\n"
    )
    # Finding optimum.quanto's spec imports the empty `optimum` namespace package, not quanto itself.
    assert heavy_modules_imported_by(statements, ignore=frozenset({"optimum"})) == []
