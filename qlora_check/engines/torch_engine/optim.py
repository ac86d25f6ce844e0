"""Optimizers and learning-rate schedules for the torch engine, by axis value."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch

from qlora_check.engines.checks import SCHEDULE_ARGUMENTS, warmup_steps
from qlora_check.quantizers import family_for_optimizer
from qlora_check.results.models import CheckResult

__all__ = ["build_optimizer", "build_scheduler", "warmup_steps"]

AfterTraining = Callable[[torch.optim.Optimizer], CheckResult]


def build_optimizer(
    name: str, parameters: Iterable[torch.nn.Parameter], lr: float, weight_decay: float
) -> tuple[torch.optim.Optimizer, dict[str, Any], AfterTraining | None]:
    """The optimizer, the settings it really uses (recorded in results), and the check a quantizer family
    wants run on it after training (its optimizers' own state check), if any."""
    params = list(parameters)
    optimizer: torch.optim.Optimizer
    extra: dict[str, Any] = {}
    after: AfterTraining | None = None
    family = family_for_optimizer(name)
    if family is not None:
        optimizer, extra, after = family.optimizer_builder()(name, params, lr, weight_decay)
    elif name == "adamw":
        optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    elif name == "adam":
        optimizer = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    elif name == "sgd":
        optimizer = torch.optim.SGD(params, lr=lr, weight_decay=weight_decay)
    elif name == "adadelta":
        optimizer = torch.optim.Adadelta(params, lr=lr, weight_decay=weight_decay)
    else:
        raise ValueError(f"unknown optimizer {name!r}")
    settings = {key: _plain(value) for key, value in optimizer.defaults.items()} | extra
    return optimizer, {"class": f"{type(optimizer).__module__}.{type(optimizer).__name__}", **settings}, after


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


def _plain(value: Any) -> Any:
    if isinstance(value, (bool, int, str)) or value is None:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, (tuple, list)):
        return [_plain(item) for item in value]
    return str(value)
