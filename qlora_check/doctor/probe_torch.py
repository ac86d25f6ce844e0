"""The torch probe (runs in the probe worker): quantize a small linear layer with one library on one
device, add a hand-written LoRA adapter, run forward and backward, and check the numbers.
"""

from __future__ import annotations

import importlib.metadata
from typing import Any

import torch

from qlora_check.doctor.models import FAMILY_LIBRARY

IN_FEATURES, OUT_FEATURES, RANK, BATCH = 128, 64, 4, 8
# 4-bit weights of a random layer land around 10% relative error; 50% means the kernel is wrong.
MAX_RELATIVE_ERROR = 0.5


def quantize(base: torch.nn.Linear, family: str, device: torch.device) -> torch.nn.Module:
    """``base`` frozen and quantized by ``family`` (``none``: left in fp32), on ``device``."""
    if family == "bnb":
        import bitsandbytes as bnb

        layer = bnb.nn.Linear4bit(IN_FEATURES, OUT_FEATURES, bias=False, compute_dtype=torch.float32, quant_type="nf4")
        layer.weight = bnb.nn.Params4bit(base.weight.data.clone(), requires_grad=False, quant_type="nf4")
        return layer.to(device)  # Params4bit quantizes when it moves to a device
    if family == "hqq":
        from hqq.core.quantize import BaseQuantizeConfig, HQQLinear

        config = BaseQuantizeConfig(nbits=4, group_size=64)
        return HQQLinear(base, quant_config=config, compute_dtype=torch.float32, device=str(device))
    if family == "quanto":
        from optimum.quanto import freeze, qint4
        from optimum.quanto import quantize as quanto_quantize

        model = torch.nn.Sequential(base)
        quanto_quantize(model, weights=qint4)
        freeze(model)
        return model.to(device)
    base.weight.requires_grad_(False)
    return base.to(device)


def run_probe(backend: str, family: str) -> dict[str, Any]:
    """Details of a forward and backward pass; ``problem`` is set when a check failed."""
    device = torch.device(backend)
    if backend == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("torch.cuda.is_available() is False")
    if backend == "mps" and not torch.backends.mps.is_available():
        raise RuntimeError("torch.backends.mps.is_available() is False")
    torch.manual_seed(0)
    base = torch.nn.Linear(IN_FEATURES, OUT_FEATURES, bias=False)
    inputs = torch.randn(BATCH, IN_FEATURES)
    with torch.no_grad():
        reference = base(inputs)
    layer = quantize(base, family, device)
    inputs, reference = inputs.to(device), reference.to(device)
    lora_a = torch.nn.Parameter(torch.randn(RANK, IN_FEATURES, device=device) * 0.1)
    lora_b = torch.nn.Parameter(torch.randn(OUT_FEATURES, RANK, device=device) * 0.1)
    frozen = layer(inputs)
    outputs = frozen + (inputs @ lora_a.T) @ lora_b.T * 2.0
    loss = outputs.float().pow(2).mean()
    loss.backward()
    relative_error = float((frozen.detach().float() - reference).norm() / reference.norm())
    grads = [p.grad for p in (lora_a, lora_b)]
    details: dict[str, Any] = {
        "device": str(device),
        "torch": torch.__version__,
        "loss": float(loss),
        "relative_error": relative_error,
        "grad_norms": [float(g.norm()) if g is not None else None for g in grads],
        "frozen_dtype": str(frozen.dtype),
    }
    if family in FAMILY_LIBRARY:
        distribution = FAMILY_LIBRARY[family][1]
        details[distribution] = importlib.metadata.version(distribution)
    details["problem"] = _problem(loss, grads, relative_error)
    return details


def _problem(loss: torch.Tensor, grads: list[torch.Tensor | None], relative_error: float) -> str:
    if not torch.isfinite(loss):
        return f"the loss is not finite ({float(loss)})"
    if any(g is None for g in grads):
        return "backward gave the LoRA adapter no gradient"
    if not all(bool(torch.isfinite(g).all()) and float(g.norm()) > 0 for g in grads if g is not None):
        return "the LoRA adapter's gradients are zero or not finite"
    if not relative_error <= MAX_RELATIVE_ERROR:
        return f"the quantized layer's output is {relative_error:.0%} off the fp32 layer's (limit 50%)"
    return ""
