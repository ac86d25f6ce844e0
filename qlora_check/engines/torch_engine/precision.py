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
from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class PrecisionPlan:
    name: str
    param_dtype: torch.dtype
    autocast_dtype: torch.dtype | None = None
    fp32_buffers: bool = False
    grad_scaler: bool = False

    def autocast(self, device_type: str) -> contextlib.AbstractContextManager[Any]:
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        autocast: contextlib.AbstractContextManager[Any] = torch.autocast(device_type, dtype=self.autocast_dtype)
        return autocast

    def apply(self, model: torch.nn.Module) -> None:
        """Move floating-point parameters (and buffers) to the planned dtypes."""
        for parameter in model.parameters():
            # Only plain parameters: quantized weights (parameter and tensor subclasses) keep their storage
            # dtype, which may be nominally floating (a 4-bit storage dtype, packed tensor subclasses).
            if type(parameter) is not torch.nn.Parameter or type(parameter.data) is not torch.Tensor:
                continue
            if parameter.is_floating_point() and parameter.dtype != self.param_dtype:
                parameter.data = parameter.data.to(self.param_dtype)
        for module in model.modules():
            for name, buffer in module.named_buffers(recurse=False):
                if buffer.is_floating_point():
                    target = torch.float32 if self.fp32_buffers else self.param_dtype
                    module._buffers[name] = buffer.to(target)

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


def precision_plan(name: str) -> PrecisionPlan:
    return _PLANS[name]()
