"""The MLX engine's model loading: the tiny config initialised like transformers, real checkpoints by path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("mlx_lm")

import mlx.core as mx
import mlx.nn as nn
import numpy as np

from qlora_check.engines.mlx_engine import adapters, models


def test_tiny_model_is_initialised_like_transformers(tmp_path: Path) -> None:
    checkpoint = models.materialise("tiny-llama", 3, tmp_path / "base")
    config = json.loads((checkpoint / "config.json").read_text())
    assert config["hidden_size"] == 64 and config["vocab_size"] == 256 and config["initializer_range"] == 0.1
    weights = mx.load(str(checkpoint / "model.safetensors"))
    assert len(weights) == 21
    head = np.array(weights["lm_head.weight"])
    assert head.shape == (256, 64) and abs(head.std() - 0.1) < 0.005
    assert np.all(np.array(weights["model.norm.weight"]) == 1.0)
    again = mx.load(str(models.materialise("tiny-llama", 3, tmp_path / "again") / "model.safetensors"))
    assert mx.array_equal(again["lm_head.weight"], weights["lm_head.weight"]).item()  # same seed, same weights


def test_load_casts_to_the_cell_precision(tmp_path: Path) -> None:
    model, _config = models.load(models.materialise("tiny-llama", 0, tmp_path / "base"), "bf16")
    assert model.lm_head.weight.dtype == mx.bfloat16
    assert isinstance(model.model.layers[0].self_attn.q_proj, nn.Linear)


def test_a_path_is_used_as_a_checkpoint(tmp_path: Path) -> None:
    assert models.materialise(str(tmp_path / "my-model"), 0, tmp_path / "unused") == tmp_path / "my-model"
    assert not (tmp_path / "unused").exists()


def test_transformers5_rope_parameters_are_lifted_for_mlx_lm() -> None:
    config = {"rope_parameters": {"rope_theta": 500000.0, "rope_type": "llama3", "factor": 8.0}}
    assert models._rope_overrides(config) == {
        "rope_theta": 500000.0,
        "rope_scaling": {"rope_type": "llama3", "factor": 8.0},
    }
    assert models._rope_overrides({"rope_parameters": {"rope_theta": 1e4, "rope_type": "default"}}) == {
        "rope_theta": 1e4
    }
    assert models._rope_overrides({"rope_theta": 1e4}) == {}


def test_lora_targets_follow_the_axis(tmp_path: Path) -> None:
    model, _config = models.load(models.materialise("tiny-llama", 0, tmp_path / "base"), "fp32")
    setup = adapters.apply_training_type(
        model, {"train_type": "lora", "lora_targets": "attn", "lora_rank": 4, "lora_alpha": 8.0, "lora_dropout": 0.0}
    )
    assert setup.lora_parameters["keys"] == [
        "self_attn.k_proj",
        "self_attn.o_proj",
        "self_attn.q_proj",
        "self_attn.v_proj",
    ]
    assert adapters.trainable_names(model)[0] == "model.layers.0.self_attn.k_proj.lora_a"
    assert len(adapters.trainable_names(model)) == 16
    with pytest.raises(ValueError, match="match no module"):
        adapters.apply_training_type(
            model, {"train_type": "lora", "lora_targets": "wq", "lora_rank": 4, "lora_alpha": 8.0, "lora_dropout": 0.0}
        )
