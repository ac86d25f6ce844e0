"""Seven tiny architectures, real HF classes and mlx-lm classes: quantize, adapt, train, and agree across engines."""

from __future__ import annotations

from pathlib import Path

import pytest

from qlora_check.matrix.axes import TINY_ARCHITECTURES
from tests.integration.conftest import assert_passed, run_cell

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("architecture", TINY_ARCHITECTURES)
def test_each_architecture_trains_qlora_in_torch(tmp_path: Path, architecture: str) -> None:
    result = run_cell(tmp_path, model=architecture, quantizer="bnb-nf4", train_type="qlora")
    assert_passed(result, "quantized", "trainable", "identity_init", "learned", "frozen_base", "checkpoint")
    assert result["values"]["model"] == f"tiny-{architecture}"
    layer_names = result["engine"]["training"]["lora_layer_types"]
    assert layer_names  # peft found this architecture's targets by their real module names


@pytest.mark.parametrize("architecture", TINY_ARCHITECTURES)
def test_each_architecture_trains_lora_in_mlx_and_matches_torch(tmp_path: Path, architecture: str) -> None:
    checks = assert_passed(run_cell(tmp_path, model=architecture, backend="mlx"), "parity", "learned", "checkpoint")
    assert checks["parity"]["figures"]["abs_diff"] <= checks["parity"]["figures"]["tolerance"]


def test_phi3_targets_its_fused_projections(tmp_path: Path) -> None:
    result = run_cell(tmp_path, model="phi3", train_type="lora", lora_targets="attn")
    checks = assert_passed(result, "trainable")
    # qkv_proj (64 -> 3*64) and o_proj (64 -> 64) in each of two blocks, rank 8
    assert checks["trainable"]["figures"]["expected"] == 8 * (64 + 192) * 2 + 8 * (64 + 64) * 2
