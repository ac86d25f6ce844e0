"""Optimizers and learning-rate schedules for the torch engine, by axis value."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch


def warmup_steps(warmup: float, steps: int) -> int:
    """``warmup`` below 1 is a ratio of the steps, else a number of steps."""
    return round(warmup * steps) if warmup < 1 else min(int(warmup), steps)


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

        # bitsandbytes keeps tensors under min_8bit_size elements in 32-bit; tiny LoRA matrices would
        # never reach the 8-bit path, so lower it and record that it was lowered.
        optimizer_class = bnb.optim.PagedAdamW8bit if name.startswith("paged") else bnb.optim.AdamW8bit
        optimizer = optimizer_class(params, lr=lr, weight_decay=weight_decay, min_8bit_size=16)
    else:
        raise ValueError(f"unknown optimizer {name!r}")
    settings = {key: _plain(value) for key, value in optimizer.defaults.items()}
    return optimizer, {"class": f"{type(optimizer).__module__}.{type(optimizer).__name__}", **settings}


def build_scheduler(
    name: str, optimizer: torch.optim.Optimizer, steps: int, warmup: int
) -> torch.optim.lr_scheduler.LRScheduler:
    """transformers' schedules (the ones users train with), torch's for exponential decay."""
    from transformers import get_scheduler

    if name == "exponential":
        gamma = 0.01 ** (1 / max(1, steps - warmup))  # decays to 1% of the peak by the last step
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: (step + 1) / (warmup + 1) if step < warmup else gamma ** (step - warmup)
        )
    scheduler: torch.optim.lr_scheduler.LRScheduler = get_scheduler(
        name, optimizer=optimizer, num_warmup_steps=warmup, num_training_steps=steps
    )
    return scheduler


def _plain(value: Any) -> Any:
    if isinstance(value, (bool, int, str)) or value is None:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, (tuple, list)):
        return [_plain(item) for item in value]
    return str(value)
