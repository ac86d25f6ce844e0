"""The MLX engine's doctor probe (runs in a probe subprocess): a block of linear layers quantized by the
family's own code (the same ``quantize`` the cells use), a hand-written LoRA adapter, value and gradient on
MLX's default device.
"""

from __future__ import annotations

import importlib.metadata
import math
from typing import Any

import mlx.core as mx
import mlx.nn as nn

from qlora_check.quantizers import QUANTIZERS

IN_FEATURES, OUT_FEATURES, RANK, BATCH = 128, 64, 4, 8
MAX_RELATIVE_ERROR = 0.5


class _Block(nn.Module):  # type: ignore[misc]
    """The smallest model the family's ``quantize`` recognises: one Linear inside ``layers``."""

    def __init__(self, base: nn.Linear) -> None:
        super().__init__()
        self.layers = [base]


def run_probe(backend: str, family: str) -> dict[str, Any]:
    """Details of a forward and backward pass; ``problem`` is set when a check failed."""
    mx.random.seed(0)
    base = nn.Linear(IN_FEATURES, OUT_FEATURES, bias=False)
    inputs = mx.random.normal((BATCH, IN_FEATURES))
    reference = base(inputs)
    block = _Block(base)
    if family != "none":
        spec = QUANTIZERS.get(family)
        spec.implementation("mlx").quantize(block, spec.probe_value, 64)
    layer: nn.Module = block.layers[0]
    layer.freeze()
    lora_a = mx.random.normal((RANK, IN_FEATURES)) * 0.1
    lora_b = mx.random.normal((OUT_FEATURES, RANK)) * 0.1

    def loss_fn(a: mx.array, b: mx.array) -> mx.array:
        outputs = layer(inputs) + (inputs @ a.T) @ b.T * 2.0
        return mx.mean(outputs * outputs)

    loss, (grad_a, grad_b) = mx.value_and_grad(loss_fn, argnums=(0, 1))(lora_a, lora_b)
    frozen = layer(inputs)
    relative_error = mx.linalg.norm(frozen - reference) / mx.linalg.norm(reference)
    mx.eval(loss, grad_a, grad_b, relative_error)
    grad_norms = [_scalar(mx.linalg.norm(g)) for g in (grad_a, grad_b)]
    details: dict[str, Any] = {
        "device": str(mx.default_device()),
        "mlx": importlib.metadata.version("mlx"),
        "loss": _scalar(loss),
        "relative_error": _scalar(relative_error),
        "grad_norms": grad_norms,
    }
    problem = ""
    if not math.isfinite(details["loss"]):
        problem = f"the loss is not finite ({details['loss']})"
    elif not all(math.isfinite(n) and n > 0 for n in grad_norms):
        problem = "the LoRA adapter's gradients are zero or not finite"
    elif not details["relative_error"] <= MAX_RELATIVE_ERROR:
        problem = f"the quantized layer's output is {details['relative_error']:.0%} off the unquantized one's"
    details["problem"] = problem
    return details


def _scalar(value: Any) -> float:
    return float(value.item())
