"""Closed-form learning-rate schedules, framework-free: what the LR at each step should be.

The MLX engine builds its schedules from ``mlx.optimizers`` pieces; the ``lr_schedule`` check compares
the LR the optimizer really used with these formulas. They follow transformers' schedule functions
(the ones the torch engine uses), with one rule for warmup everywhere: the LR ramps linearly from 0 at
step 0 to the peak at step ``warmup``, then the named decay runs over the remaining steps.
"""

from __future__ import annotations

import math

# transformers' get_cosine_with_hard_restarts_schedule_with_warmup default (num_cycles=1), as torch uses.
RESTART_CYCLES = 1
# transformers' polynomial decay defaults.
POLYNOMIAL_END_LR = 1e-7
POLYNOMIAL_POWER = 1.0
# Exponential decay reaches this fraction of the peak at the last step.
EXPONENTIAL_FINAL_FRACTION = 0.01
SCHEDULE_NAMES = ("constant", "linear", "cosine", "cosine_with_restarts", "polynomial", "exponential")


def warmup_steps(warmup: float, steps: int) -> int:
    """``warmup`` below 1 is a ratio of the steps, else a number of steps (as the torch engine reads it)."""
    return round(warmup * steps) if warmup < 1 else min(int(warmup), steps)


def exponential_gamma(steps: int, warmup: int) -> float:
    """The per-step decay factor that reaches ``EXPONENTIAL_FINAL_FRACTION`` of the peak at the end."""
    return float(EXPONENTIAL_FINAL_FRACTION ** (1 / max(1, steps - warmup)))


def lr_at(name: str, step: int, peak: float, steps: int, warmup: int) -> float:
    """The learning rate used by optimizer step ``step`` (0-based)."""
    if name not in SCHEDULE_NAMES:
        raise ValueError(f"unknown scheduler {name!r}; known: {', '.join(SCHEDULE_NAMES)}")
    if step < warmup:
        return peak * step / max(1, warmup)
    decay_steps = max(1, steps - warmup)
    progress = (step - warmup) / decay_steps
    if name == "constant":
        return peak
    if name == "linear":
        return peak * max(0.0, 1 - progress)
    if name == "cosine":
        return peak * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    if name == "cosine_with_restarts":
        if progress >= 1:
            return 0.0
        return peak * 0.5 * (1 + math.cos(math.pi * ((RESTART_CYCLES * progress) % 1.0)))
    if name == "polynomial":
        end = POLYNOMIAL_END_LR
        if progress > 1:
            return end
        return float((peak - end) * (1 - progress) ** POLYNOMIAL_POWER + end)
    return float(peak * exponential_gamma(steps, warmup) ** (step - warmup))


def expected_lrs(name: str, peak: float, steps: int, warmup: int) -> list[float]:
    """The whole closed-form LR trace of a cell."""
    return [lr_at(name, step, peak, steps, warmup) for step in range(steps)]
