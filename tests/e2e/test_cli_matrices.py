"""The CLI around matrices: bundled names, `matrices`, `plan --show-na` and `plan --coverage`."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from qlora_check.cli import app
from tests.conftest import write_matrix

runner = CliRunner()

PAIRWISE = """
version: 1
name: pw
strategy: pairwise
axes:
  backend: [cpu, cuda]
  train_type: [lora, qlora]
  quantizer: [none, hqq-4bit]
  optimizer: [adamw, sgd]
include:
  - {train_type: qlora, quantizer: none, lr: 0.1}   # n/a, written by hand: recorded with its reason
"""


def test_plan_show_na_lists_the_left_out_combinations_with_reasons(tmp_path: Path) -> None:
    matrix = write_matrix(tmp_path, "version: 1\nname: p\naxes: {train_type: [lora, qlora], seed: [1, 2]}\n")
    result = runner.invoke(app, ["plan", str(matrix), "--json", "--show-na"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert [cell["values"]["train_type"] for cell in document["cells"]] == ["lora", "lora"]
    left_out = document["not_applicable"]
    assert left_out["count"] == 2 and len(left_out["cells"]) == 2
    assert list(left_out["reasons"].values()) == [2] and "quantizer is none" in next(iter(left_out["reasons"]))
    text = runner.invoke(app, ["plan", str(matrix), "--show-na"], env={"COLUMNS": "200"}).output
    assert "left out, n/a by definition: 2" in text and "2 n/a combinations left out" in text


def test_pairwise_plan_runs_only_runnable_cells_and_coverage_explains_the_rest(tmp_path: Path) -> None:
    result = runner.invoke(app, ["plan", str(write_matrix(tmp_path, PAIRWISE)), "--json", "--coverage"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["strategy"] == "pairwise"
    planned = {cell["planned"] for cell in document["cells"] if cell["values"]["lr"] != 0.1}
    assert planned == {"run"}, "a pairwise matrix picks cells that run here"
    by_hand = [cell for cell in document["cells"] if cell["values"]["lr"] == 0.1]
    assert len(by_hand) == 1 and by_hand[0]["planned"] == "n/a" and "quantizer is none" in by_hand[0]["reason"]
    coverage = {tuple(entry["axes"]): entry for entry in document["coverage"]}
    assert len(coverage) == 6
    backend_train = coverage[("backend", "train_type")]
    assert backend_train["covered"] + backend_train["skipped"] == 4
    if backend_train["skipped"]:  # a host without CUDA: the two cuda pairs are skipped here, and say why
        assert backend_train["skipped"] == 2 and "CUDA" in json.dumps(backend_train["skip_reasons"])
    train_quant = coverage[("train_type", "quantizer")]
    assert (train_quant["covered"], train_quant["not_applicable"], train_quant["missing"]) == (2, 2, 0)
    assert all(entry["missing"] == 0 for entry in coverage.values())


def test_plan_takes_a_bundled_name_and_refuses_an_unknown_one() -> None:
    assert runner.invoke(app, ["plan", "smoke", "--json"]).exit_code == 0
    result = runner.invoke(app, ["plan", "smok"])
    assert result.exit_code == 2
    assert "unknown bundled matrix 'smok'" in result.output and "Did you mean 'smoke'" in result.output


def test_matrices_lists_the_bundled_ones_with_cell_counts_here() -> None:
    result = runner.invoke(app, ["matrices", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    rows = {row["name"]: row for row in document["matrices"]}
    assert document["default"] == "smoke" and {"smoke", "core", "full", "cpu"} <= set(rows)
    assert rows["core"]["strategy"] == "pairwise" and rows["core"]["cells"] == rows["core"]["run"] > 0
    assert rows["full"]["n/a_left_out"] > 0 and rows["full"]["n/a"] == 0
    for row in rows.values():
        assert row["cells"] == row["run"] + row["skip"] + row["n/a"]
