"""The project's own LoRA layer: y = base(x) + (alpha / r) · B(A(dropout(x))), A random, B zero.

It wraps any linear-like module that has in_features and out_features — nn.Linear or any quantizer
family's quantized linear layer — without knowing how the base computes, which is
what makes it a test of the quantized layers' own forward and backward.
"""

from __future__ import annotations

import math

import torch

from qlora_check.engines.torch_engine.adapters.adapted import Adapted
from qlora_check.engines.torch_engine.adapters.targets import lora_parameter_count


class LoraLinear(torch.nn.Module):  # type: ignore[misc]
    """A frozen base layer plus a trainable low-rank update."""

    def __init__(self, base: torch.nn.Module, rank: int, alpha: float, dropout: float, dtype: torch.dtype) -> None:
        super().__init__()
        self.base = base
        self.in_features, self.out_features = int(base.in_features), int(base.out_features)  # type: ignore[arg-type]
        for parameter in base.parameters():
            parameter.requires_grad_(False)
        device = _device_of(base)
        self.lora_A = torch.nn.Parameter(torch.empty(rank, self.in_features, dtype=dtype, device=device))
        self.lora_B = torch.nn.Parameter(torch.zeros(self.out_features, rank, dtype=dtype, device=device))
        torch.nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))  # as peft and the LoRA paper's code
        self.scaling = alpha / rank
        self.dropout = torch.nn.Dropout(dropout) if dropout > 0 else torch.nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        result: torch.Tensor = self.base(x)
        update = self.dropout(x.to(self.lora_A.dtype)) @ self.lora_A.t() @ self.lora_B.t()
        return result + (update * self.scaling).to(result.dtype)


def _device_of(module: torch.nn.Module) -> torch.device:
    for tensor in [*module.parameters(), *module.buffers()]:
        return tensor.device
    return torch.device("cpu")


def _adapter_dtype(model: torch.nn.Module) -> torch.dtype:
    """The dtype of the model's unquantized floating-point weights (the adapters match them)."""
    for parameter in model.parameters():
        if type(parameter) is torch.nn.Parameter and parameter.is_floating_point():
            return parameter.dtype
    return torch.float32


def apply_custom_lora(
    model: torch.nn.Module, targets: dict[str, torch.nn.Module], rank: int, alpha: float, dropout: float
) -> Adapted:
    """Freeze everything, then replace each target module by a LoraLinear wrapping it."""
    expected = lora_parameter_count(targets, rank)
    dtype = _adapter_dtype(model)
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    wrapped: dict[str, str] = {}
    for name, module in targets.items():
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, LoraLinear(module, rank, alpha, dropout, dtype))
        wrapped[type(module).__name__] = f"{type(module).__module__}.{type(module).__name__}"
    rule = f"r·(in+out) over {len(targets)} modules"
    return Adapted(model, "custom", expected, rule, {"wrapped_layer_types": sorted(wrapped.values())})
