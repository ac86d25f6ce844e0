"""Each torch-measured check fails when what it guards is broken, on real tiny models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from qlora_check.engines import checks as shared
from qlora_check.engines.torch_engine import adapters, checks, measure, models
from qlora_check.engines.torch_engine.adapters.llama_pro import expand_checkpoint
from qlora_check.engines.torch_engine.base import load_base
from qlora_check.engines.torch_engine.inspect import quantization_summary
from qlora_check.engines.torch_engine.optim import build_optimizer, build_scheduler
from qlora_check.engines.torch_engine.precision import precision_plan
from qlora_check.engines.torch_engine.quantize import load_quantizer
from qlora_check.matrix.axes import normalise_values
from qlora_check.matrix.cell import Cell
from qlora_check.quantizers.bnb import optimizer_8bit_check, optimizer_state_precision
from qlora_check.torch_models import without_layers

pytestmark = [pytest.mark.filterwarnings("ignore::FutureWarning"), pytest.mark.filterwarnings("ignore::UserWarning")]
CPU = torch.device("cpu")
FP32 = precision_plan("fp32")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return models.materialise("tiny-llama", 0, tmp_path_factory.mktemp("base"))


def _values(**values: Any) -> dict[str, Any]:
    return Cell.from_values(normalise_values(values)).values


def _batch() -> torch.Tensor:
    return torch.randint(97, 113, (4, 16), generator=torch.Generator().manual_seed(0))


def _adapted(checkpoint: Path, **values: Any) -> tuple[torch.Tensor, adapters.Adapted]:
    cell = _values(**values)
    model, _ = load_base(checkpoint, cell, FP32, CPU)
    reference = measure.logits(model, _batch(), FP32, CPU)
    return reference, adapters.apply_training_type(model, cell)


@pytest.mark.parametrize("train_type", ["custom_lora", "lora"])
def test_identity_init_fails_when_lora_b_starts_non_zero(checkpoint: Path, train_type: str) -> None:
    reference, adapted = _adapted(checkpoint, train_type=train_type)
    good = checks.identity_init_check(reference, measure.logits(adapted.model, _batch(), FP32, CPU), "fp32", "x")
    assert good.passed and good.figures["max_abs_diff"] == 0.0
    with torch.no_grad():
        for name, parameter in adapted.model.named_parameters():
            if "lora_B" in name:
                parameter.fill_(0.01)
    bad = checks.identity_init_check(reference, measure.logits(adapted.model, _batch(), FP32, CPU), "fp32", "x")
    assert not bad.passed and bad.figures["max_abs_diff"] > bad.figures["limit"]


def test_identity_init_fails_for_llama_pro_blocks_whose_outputs_are_not_zero(checkpoint: Path, tmp_path: Path) -> None:
    expansion = expand_checkpoint(checkpoint, tmp_path / "expanded", 1)
    model = models.load(tmp_path / "expanded", torch.float32)

    def identity() -> Any:
        expanded = measure.logits(model, _batch(), FP32, CPU)
        with without_layers(model, expansion.new_layers):
            original = measure.logits(model, _batch(), FP32, CPU)
        return checks.identity_init_check(original, expanded, "fp32", "x")

    assert identity().passed
    with torch.no_grad():
        model.model.layers[expansion.new_layers[0]].mlp.down_proj.weight.fill_(0.01)
    assert not identity().passed


def test_frozen_base_fails_when_a_frozen_weight_changes(checkpoint: Path) -> None:
    _, adapted = _adapted(checkpoint, train_type="qlora", quantizer="hqq-4bit")
    before = measure.frozen_hashes(adapted.model)
    assert shared.frozen_base_check(before, measure.frozen_hashes(adapted.model)).passed
    hqq_layer = adapted.model.base_model.model.model.layers[1].mlp.up_proj.base_layer
    with torch.no_grad():
        hqq_layer.meta["scale"].mul_(1.5)  # the quantization scale lives outside parameters
    result = shared.frozen_base_check(before, measure.frozen_hashes(adapted.model))
    assert not result.passed and "up_proj" in result.figures["first_changed"][0]


def test_trainable_fails_when_a_base_weight_is_left_unfrozen(checkpoint: Path) -> None:
    _, adapted = _adapted(checkpoint, train_type="custom_lora")
    actual = adapters.count_parameters(adapted.model)["trainable"]
    assert shared.trainable_check(actual, adapted.expected_trainable, adapted.rule).passed
    adapted.model.model.norm.weight.requires_grad_(True)
    actual = adapters.count_parameters(adapted.model)["trainable"]
    assert not shared.trainable_check(actual, adapted.expected_trainable, adapted.rule).passed


def test_checkpoint_fails_when_the_reloaded_adapter_differs(checkpoint: Path, tmp_path: Path) -> None:
    cell = _values(train_type="custom_qlora", quantizer="quanto-int8")
    _, adapted = _adapted(checkpoint, train_type="custom_qlora", quantizer="quanto-int8")
    with torch.no_grad():
        for name, parameter in adapted.model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(std=0.05)
    files = checks.save_trained(adapted, tmp_path / "saved")

    def fresh_base() -> torch.nn.Module:
        return load_base(checkpoint, cell, FP32, CPU)[0]

    def fresh_adapted() -> adapters.Adapted:
        return adapters.apply_training_type(fresh_base(), cell)

    trained = measure.eval_loss(adapted.model, _batch(), FP32, CPU)
    reloaded = checks.load_trained(adapted, tmp_path / "saved", fresh_adapted, fresh_base, FP32, CPU)
    assert checks.checkpoint_check(trained, measure.eval_loss(reloaded, _batch(), FP32, CPU), "fp32", files).passed
    with torch.no_grad():
        next(p for n, p in reloaded.named_parameters() if "lora_B" in n).add_(0.5)
    perturbed = measure.eval_loss(reloaded, _batch(), FP32, CPU)
    assert not checks.checkpoint_check(trained, perturbed, "fp32", files).passed


def test_grad_accum_fails_on_different_data_and_on_an_unsplittable_batch(checkpoint: Path) -> None:
    _, adapted = _adapted(checkpoint, train_type="lora")
    batch = _batch()
    assert checks.grad_accum_check(adapted.model, batch, 2, FP32, CPU, "fp32").passed
    assert not checks.grad_accum_check(adapted.model, batch[:3], 2, FP32, CPU, "fp32").passed
    whole = measure.accumulated_gradients(adapted.model, [batch], FP32, CPU)
    other = measure.accumulated_gradients(adapted.model, list(torch.flip(batch, [1]).chunk(2)), FP32, CPU)
    diff, scale = measure.gradients_difference(whole, other)
    assert not shared.closeness_check("grad_accum", diff, scale, 1e-5, 1e-4, "x").passed


def test_quantized_fails_when_the_quantizer_finds_nothing_quantized(checkpoint: Path) -> None:
    model = models.load(checkpoint, torch.float32)
    summary = quantization_summary(model, load_quantizer("hqq-4bit").is_quantized, 4)
    check = shared.quantized_check(True, summary["modules"], summary["quantized_bytes"], summary["unquantized_bytes"])
    assert not check.passed and summary["modules"] == 0


def test_lr_schedule_fails_when_the_scheduler_ignores_warmup() -> None:
    parameter = torch.nn.Parameter(torch.zeros(2))
    optimizer, _, _ = build_optimizer("sgd", [parameter], 0.1, 0.0)
    scheduler = build_scheduler("linear", optimizer, 10, 0)  # built without the warmup the cell asked for
    recorded = []
    for _ in range(10):
        recorded.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert shared.lr_schedule_check(recorded, shared.expected_lrs("linear", 0.1, 10, 0)).passed
    assert not shared.lr_schedule_check(recorded, shared.expected_lrs("linear", 0.1, 10, 3)).passed


def test_optimizer_8bit_fails_with_bitsandbytes_default_min_size() -> None:
    import bitsandbytes as bnb

    parameter = torch.nn.Parameter(torch.randn(8, 64))  # 512 elements: a tiny LoRA matrix
    optimizer = bnb.optim.AdamW8bit([parameter], lr=1e-3)  # default min_8bit_size=4096
    parameter.sum().backward()
    optimizer.step()
    assert not optimizer_8bit_check(*optimizer_state_precision(optimizer)).passed
    optimizer, _, _ = build_optimizer("adamw_8bit", [parameter], 1e-3, 0.0)
    optimizer.step()
    assert optimizer_8bit_check(*optimizer_state_precision(optimizer)).passed
