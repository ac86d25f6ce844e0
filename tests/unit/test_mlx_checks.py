"""Each MLX check passes on a real tiny model and fails when the thing it guards is broken."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mlx_lm")

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers
import numpy as np
from mlx.utils import tree_flatten

from qlora_check.engines.data import load_batches
from qlora_check.engines.mlx_engine import adapters, checks, models
from qlora_check.engines.mlx_engine.train import eval_loss, train
from qlora_check.matrix.cell import Cell
from qlora_check.quantizers.mlx import block_linears, quantize

BATCH, SEQ_LEN = 8, 32


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return models.materialise("tiny-llama", 0, tmp_path_factory.mktemp("mlx") / "base")


@pytest.fixture(scope="module")
def tokens() -> mx.array:
    return mx.array(load_batches("synthetic", 1, 1, BATCH, SEQ_LEN)[0].astype(np.int32))


def values(**overrides: Any) -> dict[str, Any]:
    return Cell.from_values({"backend": "mlx", **overrides}).values


def logits(model: nn.Module, tokens: mx.array) -> mx.array:
    model.eval()
    return model(tokens[:, :-1]).astype(mx.float32)


def lora_model(checkpoint: Path, train_type: str = "lora", quantizer: str = "none") -> nn.Module:
    model, _config = models.load(checkpoint, "fp32")
    quantize(model, quantizer, 64)
    adapters.apply_training_type(model, values(train_type=train_type, quantizer=quantizer))
    return model


def snapshot(model: nn.Module, trainable: bool) -> dict[str, mx.array]:
    names = {name for name, _ in tree_flatten(model.trainable_parameters())}
    return {name: value for name, value in tree_flatten(model.parameters()) if (name in names) == trainable}


def short_training(model: nn.Module, steps: int = 3) -> None:
    batches = mx.array(load_batches("synthetic", 0, steps, BATCH, SEQ_LEN).astype(np.int32))
    train(model, batches, mlx.optimizers.AdamW(1e-2, bias_correction=True), grad_accum=1, max_grad_norm=1.0)


# identity_init


@pytest.mark.parametrize("train_type", ["lora", "dora"])
def test_identity_init_passes_for_fresh_adapters(checkpoint: Path, tokens: mx.array, train_type: str) -> None:
    base, _config = models.load(checkpoint, "fp32")
    base_logits = logits(base, tokens)
    model = lora_model(checkpoint, train_type)
    lora_b = {k: v for k, v in tree_flatten(model.parameters()) if k.endswith(".lora_b")}
    check = checks.identity_init_check(base_logits, logits(model, tokens), lora_b, "fp32")
    assert check.passed, check.detail
    assert check.figures["lora_b_tensors"] == 14  # 7 targets x 2 blocks


def test_identity_init_fails_when_a_lora_b_is_not_zero(checkpoint: Path, tokens: mx.array) -> None:
    base, _config = models.load(checkpoint, "fp32")
    model = lora_model(checkpoint)
    model.model.layers[1].mlp.up_proj.lora_b = mx.full(model.model.layers[1].mlp.up_proj.lora_b.shape, 0.05)
    lora_b = {k: v for k, v in tree_flatten(model.parameters()) if k.endswith(".lora_b")}
    check = checks.identity_init_check(logits(base, tokens), logits(model, tokens), lora_b, "fp32")
    assert not check.passed
    assert check.figures["nonzero_lora_b"] == ["model.layers.1.mlp.up_proj.lora_b"]


def test_identity_init_fails_when_dora_magnitude_is_wrong(checkpoint: Path, tokens: mx.array) -> None:
    """All B are zero, but a DoRA magnitude that is not ‖W‖ rescales outputs: the logits give it away."""
    base, _config = models.load(checkpoint, "bf16")
    model, _config = models.load(checkpoint, "bf16")
    adapters.apply_training_type(model, values(train_type="dora"))
    layer = model.model.layers[0].self_attn.v_proj
    layer.m = layer.m * 1.5
    lora_b = {k: v for k, v in tree_flatten(model.parameters()) if k.endswith(".lora_b")}
    check = checks.identity_init_check(logits(base, tokens), logits(model, tokens), lora_b, "bf16")
    assert not check.passed
    assert "changed the logits" in check.detail


# trainable and frozen_base


def test_trainable_and_frozen_base_pass_after_real_training(checkpoint: Path) -> None:
    model = lora_model(checkpoint, "qlora", "mlx-4bit")
    trainable, frozen = snapshot(model, True), snapshot(model, False)
    short_training(model)
    after = dict(tree_flatten(model.parameters()))
    assert checks.trainable_check("lora", trainable, after).passed
    check = checks.frozen_base_check(frozen, after)
    assert check.passed, check.detail
    assert any(name.endswith(".scales") for name in frozen)  # quantized packs and scales are compared too


def test_trainable_fails_when_a_base_weight_is_trainable(checkpoint: Path) -> None:
    model = lora_model(checkpoint)
    model.model.layers[0].self_attn.q_proj.linear.unfreeze()
    trainable = snapshot(model, True)
    short_training(model)
    check = checks.trainable_check("lora", trainable, dict(tree_flatten(model.parameters())))
    assert not check.passed
    assert check.figures["not_adapter"] == ["model.layers.0.self_attn.q_proj.linear.weight"]


def test_trainable_fails_when_an_adapter_does_not_move(checkpoint: Path) -> None:
    model = lora_model(checkpoint)
    model.model.layers[1].mlp.down_proj.freeze()  # its A and B get no updates, yet are meant to train
    trainable = snapshot(model, True)
    trainable.update(
        {
            "model.layers.1.mlp.down_proj.lora_a": model.model.layers[1].mlp.down_proj.lora_a,
            "model.layers.1.mlp.down_proj.lora_b": model.model.layers[1].mlp.down_proj.lora_b,
        }
    )
    short_training(model)
    check = checks.trainable_check("lora", trainable, dict(tree_flatten(model.parameters())))
    assert not check.passed
    assert "model.layers.1.mlp.down_proj.lora_a" in check.figures["unchanged"]


def test_frozen_base_fails_when_the_base_moves(checkpoint: Path) -> None:
    model = lora_model(checkpoint)
    frozen = snapshot(model, False)
    short_training(model)
    layer = model.model.layers[0].mlp.gate_proj.linear
    layer.weight = layer.weight + 1e-3  # what a leaking optimizer or a wrong freeze would do
    check = checks.frozen_base_check(frozen, dict(tree_flatten(model.parameters())))
    assert not check.passed
    assert check.figures["changed"] == ["model.layers.0.mlp.gate_proj.linear.weight"]


# quantized


def test_quantized_passes_and_leaves_embedding_and_head_in_float(checkpoint: Path) -> None:
    model, _config = models.load(checkpoint, "fp32")
    targets = block_linears(model)
    report = quantize(model, "mlx-4bit", 64)
    check = checks.quantized_check(report, targets, model)
    assert check.passed, check.detail
    assert report.left_in_float == ["lm_head", "model.embed_tokens"]
    assert len(report.modules) == 14 and report.bits == 4 and report.group_size == 64
    assert 0 < report.relative_error < 0.2


def test_quantized_fails_when_a_layer_is_left_in_float(checkpoint: Path) -> None:
    model, _config = models.load(checkpoint, "fp32")
    targets = block_linears(model)
    report = quantize(model, "mlx-8bit", 64)
    model.model.layers[1].self_attn.k_proj = nn.Linear(64, 64, bias=False)  # e.g. a dequantizing wrapper
    check = checks.quantized_check(report, targets, model)
    assert not check.passed
    assert "model.layers.1.self_attn.k_proj" in check.detail


def test_quantized_fails_when_quantizer_none_but_layers_are_quantized(checkpoint: Path) -> None:
    model, _config = models.load(checkpoint, "fp32")
    report = quantize(model, "none", 64)
    nn.quantize(model, group_size=64, bits=4)
    assert not checks.quantized_check(report, [], model).passed


def test_group_size_must_divide_the_layer_width(checkpoint: Path) -> None:
    model, _config = models.load(checkpoint, "fp32")
    with pytest.raises(ValueError, match="group_size 128 does not divide"):
        quantize(model, "mlx-4bit", 128)


# checkpoint


def test_checkpoint_round_trip_passes_and_a_corrupted_adapter_fails(
    checkpoint: Path, tokens: mx.array, tmp_path: Path
) -> None:
    cell = values(train_type="qlora", quantizer="mlx-4bit")
    model, _config = models.load(checkpoint, "fp32")
    quantize(model, "mlx-4bit", 64)
    base_loss = eval_loss(model, tokens)
    setup = adapters.apply_training_type(model, cell)
    short_training(model, steps=4)
    directory = adapters.save_adapter(model, setup, tmp_path / "adapter")
    assert json.loads((directory / "adapter_config.json").read_text())["fine_tune_type"] == "lora"

    def reloaded_loss(adapter_dir: Path) -> float:
        fresh, _config = models.load(checkpoint, "fp32")
        quantize(fresh, "mlx-4bit", 64)
        return eval_loss(adapters.load_adapter(fresh, adapter_dir), tokens)

    check = checks.checkpoint_check(eval_loss(model, tokens), reloaded_loss(directory), base_loss)
    assert check.passed, check.detail

    corrupted = tmp_path / "corrupted"
    shutil.copytree(directory, corrupted)
    weights = mx.load(str(corrupted / "adapters.safetensors"))
    weights = {k: mx.zeros_like(v) if k.endswith(".lora_b") else v for k, v in weights.items()}
    mx.save_safetensors(str(corrupted / "adapters.safetensors"), weights)
    check = checks.checkpoint_check(eval_loss(model, tokens), reloaded_loss(corrupted), base_loss)
    assert not check.passed
    assert check.figures["reloaded_eval_loss"] == pytest.approx(base_loss, rel=1e-5)  # B = 0: the base again


def test_checkpoint_fails_when_training_changed_nothing() -> None:
    assert not checks.checkpoint_check(2.5, 2.5, 2.5).passed


def test_a_diverged_cells_result_is_still_strict_json() -> None:
    from qlora_check.engines.checks import learned_check
    from qlora_check.results.models import CellResult, Status

    check = learned_check([float("nan")] * 8, 0.2)
    assert not check.passed
    result = CellResult("id", "label", {}, Status.FAIL, checks=[check], losses=[float("nan")] * 8)
    document = json.loads(json.dumps(result.to_dict(), allow_nan=False))  # would raise on NaN
    assert document["checks"][0]["figures"]["early_mean"] == "nan"
