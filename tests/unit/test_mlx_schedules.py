"""The MLX engine's LR schedules: mlx.optimizers pieces against the closed form, and the closed form
against transformers' own schedule functions (what the torch engine runs)."""

from __future__ import annotations

import pytest

pytest.importorskip("mlx.core")

import mlx.core as mx
import mlx.nn as nn

from qlora_check.engines.mlx_engine import optim, schedules
from qlora_check.engines.mlx_engine.checks import lr_schedule_check

PEAK = 3e-3


def used_lrs(name: str, steps: int, warmup: int) -> list[float]:
    """The LR a real MLX optimizer applies at each step with the engine's schedule."""
    layer = nn.Linear(2, 2)
    optimizer, _settings = optim.build_optimizer("sgd", optim.build_schedule(name, PEAK, steps, warmup), 0.0)
    lrs = []
    for _ in range(steps):
        optimizer.update(layer, {key: mx.zeros_like(value) for key, value in layer.trainable_parameters().items()})
        lrs.append(float(optimizer.learning_rate.item()))
    return lrs


@pytest.mark.parametrize("name", schedules.SCHEDULE_NAMES)
@pytest.mark.parametrize(("steps", "warmup"), [(12, 0), (12, 3), (12, 12), (1, 0)])
def test_mlx_schedule_matches_the_closed_form(name: str, steps: int, warmup: int) -> None:
    check = lr_schedule_check(used_lrs(name, steps, warmup), schedules.expected_lrs(name, PEAK, steps, warmup), PEAK)
    assert check.passed, check.detail


def test_lr_schedule_check_fails_for_another_schedule() -> None:
    check = lr_schedule_check(used_lrs("linear", 12, 2), schedules.expected_lrs("cosine", PEAK, 12, 2), PEAK)
    assert not check.passed
    assert check.figures["worst_step"] > 2  # the warmups agree; the decays do not


def test_lr_schedule_check_fails_on_a_missing_step() -> None:
    recorded = used_lrs("constant", 12, 0)[:-1]
    assert not lr_schedule_check(recorded, schedules.expected_lrs("constant", PEAK, 12, 0), PEAK).passed


def test_warmup_is_a_ratio_below_one_else_steps() -> None:
    assert schedules.warmup_steps(0.1, 40) == 4
    assert schedules.warmup_steps(5, 40) == 5
    assert schedules.warmup_steps(100, 40) == 40
    assert schedules.warmup_steps(0.0, 40) == 0


def test_warmup_ramps_from_zero_to_the_peak() -> None:
    lrs = schedules.expected_lrs("cosine", PEAK, 10, 4)
    assert lrs[:5] == pytest.approx([0.0, PEAK / 4, PEAK / 2, 3 * PEAK / 4, PEAK])


@pytest.mark.parametrize(
    ("name", "warmup"),
    [
        ("constant", 0),
        ("linear", 0),
        ("linear", 3),
        ("cosine", 3),
        ("cosine_with_restarts", 3),
        ("polynomial", 3),
        ("exponential", 0),
    ],
)
def test_closed_form_matches_the_torch_engine(name: str, warmup: int) -> None:
    """Same cell values, same LR trace in both engines (where both define the schedule the same way)."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from qlora_check.engines.torch_engine.optim import build_scheduler

    steps = 12
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=PEAK)
    scheduler = build_scheduler(name, optimizer, steps, warmup)
    torch_lrs = []
    for _ in range(steps):
        torch_lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert schedules.expected_lrs(name, PEAK, steps, warmup) == pytest.approx(torch_lrs, rel=1e-9, abs=1e-12)
