"""Real MLX cells on this CPU through the real CLI: `python -m qlora_check run`, results read back.

One matrix covers LoRA (fp32), QDoRA on a 4-bit base (bf16, cosine with warmup, gradient
checkpointing), a cell that really
fails (pure fp16 full fine-tuning: AdamW's eps underflows in fp16 and the loss turns NaN), and an n/a
cell. A second run hides torch from the interpreters, as on an MLX-only Mac: the cell must still pass,
with the parity check skipped.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from qlora_check.results.models import CellResult, Status
from qlora_check.results.store import read_results
from tests.conftest import pythonpath_env, write_matrix

pytest.importorskip("mlx_lm")
pytestmark = pytest.mark.slow

ALL_CHECKS = {
    "merge",
    "adapter_reload",
    "finite",
    "learned",
    "trainable",
    "frozen_base",
    "quantized",
    "identity_init",
    "lr_schedule",
    "checkpoint",
    "parity",
}
MATRIX = """
version: 1
name: mlx-integration
axes:
  backend: [mlx]
  quantizer: [none]
  train_type: [lora]
  steps: 16
  lr: 0.01
include:
  - {backend: mlx, quantizer: mlx-4bit, train_type: qdora, precision: bf16, scheduler: cosine, warmup: 0.25,
     steps: 16, lr: 0.01, gradient_checkpointing: true}
  - {backend: mlx, train_type: full, precision: fp16, steps: 16, lr: 0.01}
  - {backend: mlx, quantizer: bnb-nf4, train_type: qlora}
settings:
  timeout: 300
"""
HIDE_TORCH = '''
"""Hide torch from this interpreter, as on a machine where it is not installed."""
import sys
from importlib.machinery import PathFinder


class _PathFinderWithoutTorch(PathFinder):
    @classmethod
    def find_spec(cls, fullname, path=None, target=None):
        if fullname.partition(".")[0] == "torch":
            return None
        return super().find_spec(fullname, path, target)


sys.meta_path[:] = [_PathFinderWithoutTorch if finder is PathFinder else finder for finder in sys.meta_path]
'''


def run_cli(
    matrix: Path, root: Path, env: dict[str, str]
) -> tuple[subprocess.CompletedProcess[str], dict[str, CellResult]]:
    process = subprocess.run(
        [sys.executable, "-m", "qlora_check", "run", str(matrix), "--jobs", "1", "--root", str(root)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    results = read_results(root / "latest").final()
    return process, {result.label.split(" ")[0]: result for result in results.values()}


def test_mlx_cells_through_the_cli(tmp_path: Path, reports_root: Path) -> None:
    process, results = run_cli(write_matrix(tmp_path, MATRIX), reports_root, pythonpath_env())
    assert process.returncode == 1, process.stdout + process.stderr  # the fp16 cell fails for real
    assert len(results) == 4

    lora = results["mlx/none/lora/fp32/adamw/constant"]
    assert lora.status is Status.PASS, lora.reason
    assert {check.name for check in lora.checks} == ALL_CHECKS
    assert len(lora.losses) == len(lora.lrs) == 16
    assert lora.losses[-1] < lora.losses[0]
    assert lora.engine["device"] == "mlx:cpu"
    assert lora.engine["optimizer"]["bias_correction"] is True
    assert lora.engine["adapter"]["lora_parameters"]["scale"] == 2.0  # alpha 16 / r 8
    assert lora.memory["mlx_peak_train_mb"] > 0 and lora.memory["peak_rss_mb"] > 0
    assert lora.tokens_per_s and lora.tokens_per_s > 0
    parity = next(check for check in lora.checks if check.name == "parity")
    assert not parity.figures.get("skipped") and parity.figures["abs_diff"] < 1e-4

    qdora = results["mlx/mlx-4bit/qdora/bf16/adamw/cosine"]
    assert qdora.status is Status.PASS, qdora.reason
    assert qdora.engine["gradient_checkpointing"] is True
    assert qdora.engine["quantization"]["quantized_modules"] == 14
    assert qdora.engine["quantization"]["left_in_float"] == ["lm_head", "model.embed_tokens"]
    assert qdora.engine["adapter"]["fine_tune_type"] == "dora"
    assert qdora.lrs[0] == 0.0 and max(qdora.lrs) == pytest.approx(0.01)  # 4 warmup steps, then cosine
    assert qdora.lrs[-1] < qdora.lrs[5]
    assert "bfloat16" in qdora.engine["precision"]["base_dtype"]

    full_fp16 = results["mlx/none/full/fp16/adamw/constant"]
    assert full_fp16.status is Status.FAIL
    failed = {check.name for check in full_fp16.checks if not check.passed}
    assert {"finite", "learned"} <= failed
    assert "finite" in full_fp16.reason

    nf4 = results["mlx/bnb-nf4/qlora/fp32/adamw/constant"]
    assert nf4.status is Status.NOT_APPLICABLE
    assert "torch quantizer" in nf4.reason


def test_an_mlx_cell_runs_without_torch(tmp_path: Path, reports_root: Path) -> None:
    hide = tmp_path / "hide_torch"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text(HIDE_TORCH, encoding="utf-8")
    env = pythonpath_env()
    env["PYTHONPATH"] = f"{hide}:{env['PYTHONPATH']}"
    matrix = write_matrix(tmp_path, "version: 1\nname: no-torch\naxes:\n  backend: [mlx]\n  steps: 16\n  lr: 0.01\n")
    process, results = run_cli(matrix, reports_root, env)
    assert process.returncode == 0, process.stdout + process.stderr
    (result,) = results.values()
    assert result.status is Status.PASS, result.reason
    assert result.engine["torch_imported"] is False
    parity = next(check for check in result.checks if check.name == "parity")
    assert parity.passed and parity.figures["skipped"]
    assert "torch is not installed" in parity.detail
