"""The frozen base of a cell: the checkpoint loaded in the cell's dtype, quantized when the cell asks.

Used twice per cell: for training, and again as the fresh base the `checkpoint` check loads into.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from qlora_check.engines.torch_engine import models
from qlora_check.engines.torch_engine.inspect import quantization_summary
from qlora_check.engines.torch_engine.precision import PrecisionPlan
from qlora_check.engines.torch_engine.quantize import load_quantizer
from qlora_check.quantizers.interface import QuantizeRequest


def load_base(
    checkpoint: Path,
    values: dict[str, Any],
    plan: PrecisionPlan,
    device: torch.device,
    skip_layers: tuple[int, ...] = (),
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The base model on ``device`` and a description of its quantization (``{"quantizer": "none"}`` if none)."""
    quantizer_name = str(values["quantizer"])
    if quantizer_name == "none":
        model = models.load(checkpoint, plan.param_dtype).to(device)
        plan.apply(model)
        return model, {"quantizer": "none"}
    quantizer = load_quantizer(quantizer_name)
    request = QuantizeRequest(
        quantizer=quantizer_name,
        param_dtype=plan.param_dtype,
        compute_dtype=plan.compute_dtype,
        device=device,
        group_size=int(values["group_size"]),
        double_quant=bool(values["double_quant"]),
        quant_storage=str(values["quant_storage"]),
        skip_layers=skip_layers,
    )
    model, described = quantizer.load(checkpoint, request)
    plan.apply(model)
    summary = quantization_summary(model, quantizer.is_quantized, plan.param_dtype.itemsize)
    info = {
        "quantizer": quantizer_name,
        "library": quantizer.distribution,
        "version": quantizer.version(),
        **described,
        **summary,
    }
    return model, info
