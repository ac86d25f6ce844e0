"""Held-out validation: a full reduced model (hidden 1024, 8 layers) trained for real on this CPU must peak
within 10 % of what its 1- and 2-layer measurements extrapolate to, for LoRA and QLoRA (NF4)."""

from __future__ import annotations

import pytest

from qlora_check.estimate.configs import load_config
from qlora_check.estimate.request import EstimateRequest
from qlora_check.estimate.validate import validate

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("model", ["llama-3-8b", "qwen2.5-7b"])
@pytest.mark.parametrize(("quantizer", "train_type"), [("none", "lora"), ("bnb-nf4", "qlora")])
def test_estimate_is_within_ten_percent_of_a_real_full_model(model: str, quantizer: str, train_type: str) -> None:
    import torch

    torch.set_num_threads(1)
    # fp32: bf16 matmuls run ~10x slower than fp32 on this CPU (no AVX512-BF16); the method is the same.
    request = EstimateRequest(model, quantizer=quantizer, train_type=train_type, precision="fp32", seq_len=64,
                              grad_checkpointing=train_type == "qlora")
    report = validate(request, load_config(model), vocab=8192)
    assert report["config"]["hidden_size"] == 1024
    assert report["config"]["num_hidden_layers"] == 8
    assert abs(report["relative_error"]) < 0.10, report
    # The persistent parts are exact: the same modules, counted the same way.
    for part in ("weights", "quant_state", "trainable", "optimizer_state", "gradients"):
        assert report["estimated_parts"][part] == report["measured_parts"][part], part
    if quantizer != "none":
        assert report["estimated_parts"]["quant_state"] > 0
