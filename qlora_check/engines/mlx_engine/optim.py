"""Optimizers and learning-rate schedules from ``mlx.optimizers``, by axis value.

The settings are chosen to match torch's defaults (the torch engine's), not MLX's: ``Adam`` and ``AdamW``
get ``bias_correction=True`` (MLX defaults to False, which makes early steps ~3x larger), and ``adam`` with
weight decay adds it to the gradient (torch's coupled L2), since ``mlx.optimizers.Adam`` has none; so does
``adadelta`` (``mlx.optimizers.AdaDelta`` has no weight decay either).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import mlx.core as mx
import mlx.optimizers as optim

from qlora_check.engines.mlx_engine import schedules

Schedule = Callable[[mx.array], mx.array]


def build_optimizer(
    name: str, schedule: Schedule | float, weight_decay: float
) -> tuple[optim.Optimizer, dict[str, Any]]:
    """The optimizer and the settings it really uses (recorded in results)."""
    optimizer: optim.Optimizer
    settings: dict[str, Any]
    if name == "adamw":
        settings = {"betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": weight_decay, "bias_correction": True}
        optimizer = optim.AdamW(learning_rate=schedule, **settings)
    elif name == "adam":
        settings = {"betas": [0.9, 0.999], "eps": 1e-8, "bias_correction": True}
        optimizer = optim.Adam(learning_rate=schedule, **settings)
        settings["weight_decay"] = weight_decay
        settings["weight_decay_mode"] = "l2 added to gradients (torch Adam semantics)"
    elif name == "sgd":
        settings = {"momentum": 0.0, "weight_decay": weight_decay, "dampening": 0.0, "nesterov": False}
        optimizer = optim.SGD(learning_rate=schedule, **settings)
    elif name == "adadelta":
        settings = {"rho": 0.9, "eps": 1e-6}
        optimizer = optim.AdaDelta(learning_rate=schedule, **settings)
        settings["weight_decay"] = weight_decay
        settings["weight_decay_mode"] = "l2 added to gradients (torch Adadelta semantics)"
    else:
        raise ValueError(f"unknown optimizer {name!r} for the mlx engine (known: adamw, adam, sgd, adadelta)")
    return optimizer, {"class": f"mlx.optimizers.{type(optimizer).__name__}", **settings}


def gradient_weight_decay(name: str, weight_decay: float) -> float:
    """The L2 coefficient the train loop adds to gradients itself (only where MLX's optimizer has none)."""
    return weight_decay if name in ("adam", "adadelta") else 0.0


def build_schedule(name: str, peak: float, steps: int, warmup: int) -> Schedule | float:
    """The schedule as ``mlx.optimizers`` pieces: a linear warmup joined to the named decay."""
    decay_steps = max(1, steps - warmup)
    decay = _decay(name, peak, steps, warmup, decay_steps)
    if warmup == 0:
        return decay
    ramp = optim.linear_schedule(0.0, peak, warmup)
    tail: Schedule = decay if callable(decay) else (lambda _step: mx.array(peak))
    joined: Schedule = optim.join_schedules([ramp, tail], [warmup])
    return joined


def _decay(name: str, peak: float, steps: int, warmup: int, decay_steps: int) -> Schedule | float:
    schedule: Schedule
    if name == "constant":
        return peak
    if name == "linear":
        schedule = optim.linear_schedule(peak, 0.0, decay_steps)
        return schedule
    if name == "cosine":
        schedule = optim.cosine_decay(peak, decay_steps)
        return schedule
    if name == "exponential":
        schedule = optim.exponential_decay(peak, schedules.exponential_gamma(steps, warmup))
        return schedule
    if name == "cosine_with_restarts":
        return _cosine_with_restarts(peak, decay_steps)
    if name == "polynomial":
        return _polynomial(peak, decay_steps)
    raise ValueError(f"unknown scheduler {name!r}; known: {', '.join(schedules.SCHEDULE_NAMES)}")


def _cosine_with_restarts(peak: float, decay_steps: int) -> Schedule:
    # mlx.optimizers has no restarts schedule: transformers' hard-restart formula in MLX ops.
    def schedule(step: mx.array) -> mx.array:
        progress = step.astype(mx.float32) / decay_steps
        phase = mx.remainder(schedules.RESTART_CYCLES * progress, 1.0)
        value = peak * 0.5 * (1.0 + mx.cos(math.pi * phase))
        return mx.where(progress >= 1.0, mx.array(0.0), value)

    return schedule


def _polynomial(peak: float, decay_steps: int) -> Schedule:
    # mlx.optimizers has no polynomial schedule: transformers' formula in MLX ops.
    end, power = schedules.POLYNOMIAL_END_LR, schedules.POLYNOMIAL_POWER

    def schedule(step: mx.array) -> mx.array:
        remaining = 1.0 - mx.minimum(step.astype(mx.float32) / decay_steps, 1.0)
        return (peak - end) * mx.power(remaining, power) + end

    return schedule
