"""Small torch-engine parts: the quantizer registry, llama_pro block placement, precision plans."""

from __future__ import annotations

import pytest
import torch

from qlora_check.engines.lora_targets import lora_targets
from qlora_check.engines.torch_engine.adapters.llama_pro import new_block_positions
from qlora_check.engines.torch_engine.precision import precision_plan
from qlora_check.engines.torch_engine.quantize import load_quantizer
from qlora_check.errors import UnknownNameError
from qlora_check.matrix.axes import QUANTIZERS as QUANTIZER_VALUES
from qlora_check.quantizers import QUANTIZERS, family_of


def test_every_torch_quantizer_value_has_a_registered_family() -> None:
    torch_values = [value for value in QUANTIZER_VALUES if value != "none" and not value.startswith("mlx-")]
    assert torch_values
    for quantizer in torch_values:
        family = family_of(quantizer)
        assert family is not None and family.family in QUANTIZERS and "torch" in family.engines
    assert load_quantizer("hqq-4bit").family == "hqq"


def test_unknown_family_names_the_closest() -> None:
    with pytest.raises(UnknownNameError, match="hqq"):
        load_quantizer("hqqq-4bit")


def test_llama_pro_blocks_are_spread_evenly() -> None:
    assert new_block_positions(2, 1) == [1]
    assert new_block_positions(8, 2) == [3, 7]
    assert new_block_positions(32, 8) == [3, 7, 11, 15, 19, 23, 27, 31]
    with pytest.raises(ValueError, match="exceeds"):
        new_block_positions(2, 3)


def test_lora_targets() -> None:
    assert lora_targets("attn") == ["q_proj", "k_proj", "v_proj", "o_proj"]
    assert len(lora_targets("all")) == 7
    assert lora_targets("q_proj, v_proj") == ["q_proj", "v_proj"]
    with pytest.raises(ValueError):
        lora_targets(" , ")


def test_precision_plans_match_the_documented_table() -> None:
    plan = precision_plan("bf16_buffers_autocast")
    assert (plan.param_dtype, plan.compute_dtype, plan.fp32_buffers) == (torch.bfloat16, torch.bfloat16, True)
    assert precision_plan("fp16_autocast").grad_scaler
    assert precision_plan("fp16").compute_dtype == torch.float16


def test_precision_apply_leaves_quantized_parameters_alone() -> None:
    """A 4-bit weight stored as bf16 bytes (quant_storage) is floating-point but must never be cast."""
    import bitsandbytes as bnb

    layer = bnb.nn.Linear4bit(64, 64, quant_storage=torch.bfloat16)
    layer = layer.to("cpu")  # quantizes on the move
    packed = layer.weight.data.clone()
    assert packed.dtype == torch.bfloat16
    model = torch.nn.Sequential(layer, torch.nn.LayerNorm(64))
    precision_plan("fp16").apply(model)
    assert layer.weight.dtype == torch.bfloat16
    assert torch.equal(layer.weight.data.view(torch.int16), packed.view(torch.int16))  # bytes, not values (NaNs)
    assert model[1].weight.dtype == torch.float16
