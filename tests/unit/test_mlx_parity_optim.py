"""Torch/MLX parity on the same weights, and MLX optimizer settings that match torch's."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest.importorskip("mlx_lm")

import mlx.core as mx
import mlx.nn as nn
import numpy as np

from qlora_check.engines.data import load_batches
from qlora_check.engines.mlx_engine import optim, parity


@pytest.fixture(scope="module")
def tokens() -> np.ndarray:
    return load_batches("synthetic", 0, 1, 8, 32)[0]


@pytest.fixture(scope="module")
def torch_side(tmp_path_factory: pytest.TempPathFactory, tokens: np.ndarray) -> tuple[Path, float]:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    return parity.torch_reference("tiny-llama", 0, tokens, tmp_path_factory.mktemp("parity") / "torch")


def test_same_weights_give_the_same_initial_loss(torch_side: tuple[Path, float], tokens: np.ndarray) -> None:
    checkpoint, torch_loss = torch_side
    check = parity.parity_check(torch_loss, parity.mlx_loss(checkpoint, tokens))
    assert check.passed, check.detail
    assert 5.0 < torch_loss < 6.5  # about ln 256 = 5.55 for an untrained model
    assert check.figures["abs_diff"] < 1e-4


def test_parity_fails_when_mlx_gets_other_weights(
    torch_side: tuple[Path, float], tokens: np.ndarray, tmp_path: Path
) -> None:
    checkpoint, torch_loss = torch_side
    altered = tmp_path / "altered"
    shutil.copytree(checkpoint, altered)
    weights = mx.load(str(altered / "model.safetensors"))
    weights["model.layers.0.mlp.up_proj.weight"] = weights["model.layers.0.mlp.up_proj.weight"] * 1.5
    mx.save_safetensors(str(altered / "model.safetensors"), weights)
    check = parity.parity_check(torch_loss, parity.mlx_loss(altered, tokens))
    assert not check.passed
    assert check.figures["abs_diff"] > check.figures["tolerance"]


def test_parity_is_skipped_for_a_real_checkpoint(tokens: np.ndarray, tmp_path: Path) -> None:
    check = parity.run_parity(str(tmp_path / "some-model"), 0, tokens, tmp_path / "torch")
    assert check.passed and check.figures["skipped"]
    assert "tiny models" in check.detail


def test_adam_first_step_is_bias_corrected() -> None:
    """torch's Adam moves each weight by about lr on its first step; MLX's default (no bias correction)
    would move it by lr * (1 - b1) / sqrt(1 - b2) ≈ 3.16 lr."""
    lr = 1e-3
    for name in ("adam", "adamw"):
        layer = nn.Linear(4, 4)
        before = layer.weight
        optimizer, settings = optim.build_optimizer(name, lr, 0.0)
        assert settings["bias_correction"] is True and optimizer.bias_correction is True
        optimizer.update(layer, {"weight": mx.ones_like(layer.weight), "bias": mx.ones_like(layer.bias)})
        step = mx.abs(layer.weight - before)
        assert mx.allclose(step, mx.full(step.shape, lr), rtol=1e-3).item(), name


def test_coupled_weight_decay_where_mlx_has_none() -> None:
    assert optim.gradient_weight_decay("adam", 0.1) == 0.1
    assert optim.gradient_weight_decay("adadelta", 0.1) == 0.1
    assert optim.gradient_weight_decay("adamw", 0.1) == 0.0  # decoupled, inside mlx's AdamW
    _optimizer, settings = optim.build_optimizer("adamw", 1e-3, 0.1)
    assert settings["weight_decay"] == 0.1
