"""The LR schedules the MLX engine must reproduce: the shared closed forms of `engines.checks`.

The MLX engine builds its schedules from ``mlx.optimizers`` pieces (see `optim.py`); the ``lr_schedule``
check compares the LR the optimizer really used with the same framework-free formulas the torch engine is
checked against, so one cell means one LR trace on both engines.
"""

from __future__ import annotations

from qlora_check.engines.checks import SCHEDULE_ARGUMENTS, lr_multiplier, warmup_steps

RESTART_CYCLES = SCHEDULE_ARGUMENTS["cosine_with_restarts"]["num_cycles"]
POLYNOMIAL_POWER = SCHEDULE_ARGUMENTS["polynomial"]["power"]
POLYNOMIAL_END_LR = SCHEDULE_ARGUMENTS["polynomial"]["lr_end"]
EXPONENTIAL_FINAL_FRACTION = SCHEDULE_ARGUMENTS["exponential"]["final_ratio"]
SCHEDULE_NAMES = ("constant", "linear", "cosine", "cosine_with_restarts", "polynomial", "exponential")

__all__ = ["SCHEDULE_NAMES", "expected_lrs", "exponential_gamma", "lr_at", "warmup_steps"]


def exponential_gamma(steps: int, warmup: int) -> float:
    """The per-step decay factor that reaches ``EXPONENTIAL_FINAL_FRACTION`` of the peak at the end."""
    return float(EXPONENTIAL_FINAL_FRACTION ** (1 / max(1, steps - warmup)))


def lr_at(name: str, step: int, peak: float, steps: int, warmup: int) -> float:
    """The learning rate used by optimizer step ``step`` (0-based)."""
    if name not in SCHEDULE_NAMES:
        raise ValueError(f"unknown scheduler {name!r}; known: {', '.join(SCHEDULE_NAMES)}")
    return peak * lr_multiplier(name, step, steps, warmup)


def expected_lrs(name: str, peak: float, steps: int, warmup: int) -> list[float]:
    """The whole closed-form LR trace of a cell."""
    return [lr_at(name, step, peak, steps, warmup) for step in range(steps)]
