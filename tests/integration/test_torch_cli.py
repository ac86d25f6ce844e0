"""Torch cells through the real `qlora-check run` CLI: isolated workers, results.jsonl, exit code."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import MATRICES, REPO, pythonpath_env, write_matrix

pytestmark = pytest.mark.slow

MATRIX = """
version: 1
name: torch-cli
axes:
  quantizer: [none]
exclude:
  - {quantizer: none}
include:  # each contradicts quantizer: none, so each is a cell of its own (GitHub Actions' include rule)
  - {quantizer: bnb-nf4, train_type: custom_qlora, scheduler: linear, warmup: 0.2, steps: 20}
  - {quantizer: quanto-int4, train_type: llama_pro, steps: 20}
  - {quantizer: hqq-4bit, train_type: qlora, group_size: 48, steps: 20}
"""


def test_run_records_real_quantized_cells_and_the_library_s_own_error(tmp_path: Path) -> None:
    matrix = write_matrix(tmp_path, MATRIX)
    out = tmp_path / "run"
    command = [sys.executable, "-m", "qlora_check", "run", str(matrix), "--out", str(out), "--root", str(tmp_path)]
    completed = subprocess.run(
        [*command, "--jobs", "1"],
        cwd=REPO,
        env=pythonpath_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 1, completed.stdout + completed.stderr  # one cell errors
    results = {}
    for line in (out / "results.jsonl").read_text().splitlines():
        record = json.loads(line)
        results[(record["values"]["quantizer"], record["values"]["train_type"])] = record

    bnb = results[("bnb-nf4", "custom_qlora")]
    assert bnb["status"] == "pass", bnb["reason"]
    assert bnb["engine"]["quantization"]["library"] == "bitsandbytes"
    assert bnb["engine"]["training"]["wrapped_layer_types"] == ["bitsandbytes.nn.modules.Linear4bit"]
    assert {c["name"] for c in bnb["checks"]} >= {"quantized", "identity_init", "lr_schedule", "checkpoint"}

    quanto = results[("quanto-int4", "llama_pro")]
    assert quanto["status"] == "pass", quanto["reason"]
    assert quanto["engine"]["quantization"]["modules"] == 14

    # hqq rejects a group size that does not divide the weight: its own message, verbatim.
    hqq = results[("hqq-4bit", "qlora")]
    assert hqq["status"] == "error"
    assert hqq["error"]["type"] == "builtins.AssertionError"
    assert "group_size should be divisble by the total tensor dimensions" in hqq["error"]["message"]


def test_bundled_cpu_matrix_is_a_sensible_size_and_all_applicable() -> None:
    from qlora_check.capabilities import not_applicable_reason
    from qlora_check.matrix.axes import PRECISIONS, SCHEDULERS, TRAIN_TYPES
    from qlora_check.matrix.expand import expand
    from qlora_check.matrix.loader import load_matrix

    every = expand(load_matrix(MATRICES / "cpu.yaml"))
    cells = [cell for cell in every if cell["backend"] == "cpu"]  # the mlx cells are the MLX engine's
    assert 30 <= len(cells) <= 70 and len(every) - len(cells) <= 15
    assert not [cell.label for cell in cells if not_applicable_reason(cell)]
    assert {cell["train_type"] for cell in cells} == set(TRAIN_TYPES)
    assert {cell["precision"] for cell in cells} == set(PRECISIONS)
    assert {cell["scheduler"] for cell in cells} == set(SCHEDULERS)
    families = {str(cell["quantizer"]).split("-")[0] for cell in cells}  # torch families on cpu
    assert families == {"none", "bnb", "hqq", "quanto"}
