"""Optimizers and learning-rate schedules for the torch engine, by axis value."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch

from qlora_check.engines.checks import SCHEDULE_ARGUMENTS, warmup_steps

__all__ = ["build_optimizer", "build_scheduler", "optimizer_state_precision", "warmup_steps"]

# bitsandbytes keeps tensors under min_8bit_size elements (default 4096) in 32-bit; tiny LoRA matrices
# would never reach the 8-bit path. The optimizer_8bit check proves the path ran.
MIN_8BIT_SIZE = 16


def build_optimizer(
    name: str, parameters: Iterable[torch.nn.Parameter], lr: float, weight_decay: float
) -> tuple[torch.optim.Optimizer, dict[str, Any]]:
    """The optimizer and the settings it really uses (recorded in results)."""
    params = list(parameters)
    optimizer: torch.optim.Optimizer
    if name == "adamw":
        optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    elif name == "adam":
        optimizer = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    elif name == "sgd":
        optimizer = torch.optim.SGD(params, lr=lr, weight_decay=weight_decay)
    elif name == "adadelta":
        optimizer = torch.optim.Adadelta(params, lr=lr, weight_decay=weight_decay)
    elif name in ("adamw_8bit", "paged_adamw_8bit"):
        import bitsandbytes as bnb

        optimizer_class = bnb.optim.PagedAdamW8bit if name.startswith("paged") else bnb.optim.AdamW8bit
        optimizer = optimizer_class(params, lr=lr, weight_decay=weight_decay, min_8bit_size=MIN_8BIT_SIZE)
    else:
        raise ValueError(f"unknown optimizer {name!r}")
    settings = {key: _plain(value) for key, value in optimizer.defaults.items()}
    if name in ("adamw_8bit", "paged_adamw_8bit"):
        settings["min_8bit_size"] = MIN_8BIT_SIZE
    return optimizer, {"class": f"{type(optimizer).__module__}.{type(optimizer).__name__}", **settings}


def build_scheduler(
    name: str, optimizer: torch.optim.Optimizer, steps: int, warmup: int
) -> torch.optim.lr_scheduler.LRScheduler:
    """transformers' schedules (the ones users train with); torch's LambdaLR for exponential decay.

    `constant` maps to transformers' constant_with_warmup, because its plain `constant` ignores warmup. The
    extra arguments (cycles, power) are shared with the closed forms in `engines.checks`.
    """
    from transformers import get_scheduler

    arguments = dict(SCHEDULE_ARGUMENTS.get(name, {}))
    if name == "exponential":
        gamma = arguments["final_ratio"] ** (1 / max(1, steps - warmup))
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: step / max(1, warmup) if step < warmup else gamma ** (step - warmup)
        )
    library_name = "constant_with_warmup" if name == "constant" else name
    scheduler: torch.optim.lr_scheduler.LRScheduler = get_scheduler(
        library_name,
        optimizer=optimizer,
        num_warmup_steps=warmup,
        num_training_steps=steps,
        scheduler_specific_kwargs=arguments or None,
    )
    return scheduler


def optimizer_state_precision(optimizer: torch.optim.Optimizer) -> tuple[int, int]:
    """How many parameters have 8-bit (uint8) and how many 32-bit first-moment state, after a step."""
    eight_bit = thirty_two_bit = 0
    for state in optimizer.state.values():
        first = state.get("state1")
        if isinstance(first, torch.Tensor):
            if first.dtype == torch.uint8:
                eight_bit += 1
            else:
                thirty_two_bit += 1
    return eight_bit, thirty_two_bit


def _plain(value: Any) -> Any:
    if isinstance(value, (bool, int, str)) or value is None:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, (tuple, list)):
        return [_plain(item) for item in value]
    return str(value)
