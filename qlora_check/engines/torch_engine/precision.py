"""What each precision axis value means for torch: parameter dtype, autocast dtype, loss scaling.

| precision              | parameters | compute                  | scaler     |
| fp32                   | fp32       | fp32                     | no         |
| fp16 / bf16            | that dtype | that dtype               | no         |
| fp16_autocast          | fp32       | fp16 autocast            | GradScaler |
| bf16_autocast          | fp32       | bf16 autocast            | no         |
| bf16_buffers_autocast  | bf16       | bf16 autocast, fp32 buffers | no      |
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import torch


@dataclass(frozen=True)
class PrecisionPlan:
    name: str
    param_dtype: torch.dtype
    autocast_dtype: torch.dtype | None = None
    fp32_buffers: bool = False
    grad_scaler: bool = False
    # adapter_dtype fp32 (peft's default): adapter weights stay fp32 over a 16-bit base; False = cast them to
    # the parameter dtype like every other weight (adapter_dtype param, the FSDP-QLoRA way).
    fp32_adapters: bool = True

    def autocast(self, device_type: str) -> contextlib.AbstractContextManager[Any]:
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        autocast: contextlib.AbstractContextManager[Any] = torch.autocast(device_type, dtype=self.autocast_dtype)
        return autocast

    def apply(self, model: torch.nn.Module) -> None:
        """Move floating-point parameters (and buffers) to the planned dtypes (adapter weights: see fp32_adapters)."""
        for name, parameter in model.named_parameters():
            # Only plain parameters: quantized weights (parameter and tensor subclasses) keep their storage
            # dtype, which may be nominally floating (a 4-bit storage dtype, packed tensor subclasses).
            if type(parameter) is not torch.nn.Parameter or type(parameter.data) is not torch.Tensor:
                continue
            target = self.adapter_dtype if is_adapter_weight(name) else self.param_dtype
            if parameter.is_floating_point() and parameter.dtype != target:
                parameter.data = parameter.data.to(target)
        for module in model.modules():
            for name, buffer in module.named_buffers(recurse=False):
                if buffer.is_floating_point():
                    target = torch.float32 if self.fp32_buffers else self.param_dtype
                    module._buffers[name] = buffer.to(target)

    @property
    def adapter_dtype(self) -> torch.dtype:
        """The dtype adapter weights (LoRA A and B, DoRA's magnitude) are kept in."""
        return torch.float32 if self.fp32_adapters else self.param_dtype

    @property
    def compute_dtype(self) -> torch.dtype:
        """The dtype matmuls run in: the autocast dtype, else the parameter dtype."""
        return self.autocast_dtype or self.param_dtype

    def scaler(self, device_type: str) -> Any | None:
        return torch.amp.GradScaler(device_type) if self.grad_scaler else None


_PLANS: dict[str, Callable[[], PrecisionPlan]] = {
    "fp32": lambda: PrecisionPlan("fp32", torch.float32),
    "fp16": lambda: PrecisionPlan("fp16", torch.float16),
    "bf16": lambda: PrecisionPlan("bf16", torch.bfloat16),
    "fp16_autocast": lambda: PrecisionPlan("fp16_autocast", torch.float32, torch.float16, grad_scaler=True),
    "bf16_autocast": lambda: PrecisionPlan("bf16_autocast", torch.float32, torch.bfloat16),
    "bf16_buffers_autocast": lambda: PrecisionPlan(
        "bf16_buffers_autocast", torch.bfloat16, torch.bfloat16, fp32_buffers=True
    ),
}


def precision_plan(name: str, adapter_dtype: str = "fp32") -> PrecisionPlan:
    return replace(_PLANS[name](), fp32_adapters=adapter_dtype == "fp32")


def is_adapter_weight(name: str) -> bool:
    """Adapter weights by name: peft's lora_A / lora_B / lora_magnitude_vector and the custom layer's lora_A / B."""
    return any(part.startswith("lora_") for part in name.split("."))
