"""The torch engine's doctor probe (runs in a probe subprocess): the tiny model loaded through the same
quantizer code the cells use, one of its quantized layers driven forward and backward through a LoRA
adapter on the device, and the numbers checked.
"""

from __future__ import annotations

import importlib.metadata
import tempfile
from pathlib import Path
from typing import Any

import torch

from qlora_check.engines.torch_engine.models import materialise
from qlora_check.quantizers import QUANTIZERS
from qlora_check.quantizers.interface import QuantizeRequest
from qlora_check.torch_models import load

PLAIN = "none"
RANK, BATCH = 4, 8
PROBE_MODEL = "tiny-llama"
PLAIN_LAYER = "model.layers.0.self_attn.q_proj"
# 4-bit weights of a random layer land around 10% relative error; 50% means the kernel is wrong.
MAX_RELATIVE_ERROR = 0.5


def run_probe(backend: str, family: str) -> dict[str, Any]:
    """Details of a forward and backward pass; ``problem`` is set when a check failed."""
    device = torch.device(backend)
    if backend == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("torch.cuda.is_available() is False")
    if backend == "mps" and not torch.backends.mps.is_available():
        raise RuntimeError("torch.backends.mps.is_available() is False")
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory(prefix="qlora-check-probe-") as scratch:
        checkpoint = materialise(PROBE_MODEL, 0, Path(scratch) / "base")
        reference_model = load(checkpoint, torch.float32)
        details: dict[str, Any] = {"device": str(device), "torch": torch.__version__}
        if family == PLAIN:
            model = load(checkpoint, torch.float32).to(device)
            name, layer = PLAIN_LAYER, model.get_submodule(PLAIN_LAYER)
        else:
            spec = QUANTIZERS.get(family)
            quantizer = spec.implementation("torch")
            request = QuantizeRequest(spec.probe_value, torch.float32, torch.float32, device)
            model, described = quantizer.load(checkpoint, request)
            name, layer = next((n, m) for n, m in model.named_modules() if quantizer.is_quantized(m))
            details[spec.pip_name] = importlib.metadata.version(spec.pip_name)
            details["path"] = described.get("path")
        details["layer"] = name
        details.update(_drive(layer, reference_model.get_submodule(name), device))
    return details


def _drive(layer: torch.nn.Module, reference: torch.nn.Module, device: torch.device) -> dict[str, Any]:
    """Forward and backward through ``layer`` plus a LoRA adapter; the figures and any ``problem``."""
    for parameter in layer.parameters():
        parameter.requires_grad_(False)
    in_features, out_features = int(reference.in_features), int(reference.out_features)
    inputs = torch.randn(BATCH, in_features)
    with torch.no_grad():
        expected = reference(inputs)
    inputs = inputs.to(device)
    lora_a = torch.nn.Parameter(torch.randn(RANK, in_features, device=device) * 0.1)
    lora_b = torch.nn.Parameter(torch.randn(out_features, RANK, device=device) * 0.1)
    frozen = layer(inputs)
    outputs = frozen + (inputs @ lora_a.T) @ lora_b.T * 2.0
    loss = outputs.float().pow(2).mean()
    loss.backward()
    relative_error = float((frozen.detach().float().cpu() - expected).norm() / expected.norm())
    grads = [p.grad for p in (lora_a, lora_b)]
    return {
        "loss": float(loss),
        "relative_error": relative_error,
        "grad_norms": [float(g.norm()) if g is not None else None for g in grads],
        "frozen_dtype": str(frozen.dtype),
        "problem": _problem(loss, grads, relative_error),
    }


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
