"""The framework-free checks: each one passes on good figures and fails on crafted bad ones."""

from __future__ import annotations

import math

import pytest

from qlora_check.engines import checks
from qlora_check.quantizers.bnb import optimizer_8bit_check


def test_finite_fails_on_nan_and_on_no_losses() -> None:
    assert checks.finite_check([3.0, 2.0]).passed
    bad = checks.finite_check([3.0, math.nan, 2.0])
    assert not bad.passed and bad.figures["first_bad_step"] == 1
    assert not checks.finite_check([]).passed


def test_learned_fails_on_a_flat_curve() -> None:
    assert checks.learned_check([5.0] * 4 + [2.0] * 4, 0.2).passed
    flat = checks.learned_check([5.0, 5.1, 4.9, 5.0, 5.0, 4.95, 5.05, 5.0], 0.2)
    assert not flat.passed and flat.figures["relative_drop"] < 0.2


SCHEDULES = ["constant", "linear", "cosine", "cosine_with_restarts", "polynomial", "exponential"]


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_closed_forms_start_after_warmup_at_the_peak_and_never_exceed_it(schedule: str) -> None:
    lrs = checks.expected_lrs(schedule, 1e-3, steps=20, warmup=4)
    assert lrs[0] == 0.0 and lrs[2] == pytest.approx(5e-4)
    assert lrs[4] == pytest.approx(1e-3)
    assert max(lrs) <= 1e-3 + 1e-15
    if schedule != "constant":
        assert lrs[-1] < lrs[4]


def test_cosine_with_restarts_restarts() -> None:
    lrs = checks.expected_lrs("cosine_with_restarts", 1.0, steps=20, warmup=0)
    assert lrs[10] == pytest.approx(1.0) and lrs[9] < 0.1


def test_lr_schedule_fails_on_a_wrong_step_and_a_wrong_length() -> None:
    expected = checks.expected_lrs("linear", 1e-3, 10, 2)
    assert checks.lr_schedule_check(expected, expected).passed
    wrong = list(expected)
    wrong[5] *= 1.01
    result = checks.lr_schedule_check(wrong, expected)
    assert not result.passed and result.figures["worst_step"] == 5
    assert not checks.lr_schedule_check(expected[:-1], expected).passed


def test_warmup_ratio_or_steps() -> None:
    assert checks.warmup_steps(0.1, 40) == 4
    assert checks.warmup_steps(5, 40) == 5
    assert checks.warmup_steps(50, 40) == 40


def test_closeness_fails_beyond_the_limit_and_on_nan() -> None:
    assert checks.closeness_check("x", 1e-6, 10.0, 1e-5, 1e-4, "a and b").passed
    assert not checks.closeness_check("x", 1e-2, 10.0, 1e-5, 1e-4, "a and b").passed
    assert not checks.closeness_check("x", math.nan, 10.0, 1e-5, 1e-4, "a and b").passed


def test_tolerances_by_precision() -> None:
    assert checks.tolerance_for("fp32") < checks.tolerance_for("fp16_autocast") < checks.tolerance_for("bf16")


def test_quantized_fails_when_nothing_or_nothing_smaller_was_quantized() -> None:
    assert checks.quantized_check(True, 14, 100, 400).passed
    assert not checks.quantized_check(True, 0, 0, 0).passed
    assert not checks.quantized_check(True, 14, 400, 400).passed
    assert checks.quantized_check(False, 0, 0, 0).passed
    assert not checks.quantized_check(False, 3, 10, 40).passed


def test_trainable_fails_on_a_different_count_or_zero() -> None:
    assert checks.trainable_check(17408, 17408, "r·(in+out)").passed
    assert not checks.trainable_check(17409, 17408, "r·(in+out)").passed
    assert not checks.trainable_check(0, 0, "nothing").passed


def test_frozen_base_fails_on_a_changed_or_missing_tensor() -> None:
    before = {"a": "1", "b": "2"}
    assert checks.frozen_base_check(before, dict(before)).passed
    changed = checks.frozen_base_check(before, {"a": "1", "b": "3"})
    assert not changed.passed and changed.figures["first_changed"] == ["b"]
    assert not checks.frozen_base_check(before, {"a": "1"}).passed
    assert not checks.frozen_base_check({}, {}).passed


def test_optimizer_8bit_fails_when_every_state_is_32_bit() -> None:
    assert optimizer_8bit_check(3, 1).passed
    assert not optimizer_8bit_check(0, 5).passed


def test_merge_into_a_quantized_base_judges_dequantize_then_merge_and_only_a_dropped_update_in_place() -> None:
    from qlora_check.engines.checks import InPlaceMerge, merge_verdict

    # measured (hqq 2-bit, 20 steps, fp32): dequantize -> merge exact to 4e-6; re-quantizing kept 22% of the effect
    lossy = InPlaceMerge("in place", 2.9, 0.8)
    verdict = merge_verdict(4e-6, 5.0, 3.7, "fp32", True, "dequantize", lossy)
    assert verdict.passed and verdict.figures["in_place_kept"] == pytest.approx(1 - 2.9 / 3.7)
    assert "kept 22%" in verdict.detail
    # the dequantize -> merge path is held to the precision's tolerance, whatever the in-place path did
    assert not merge_verdict(0.5, 5.0, 3.7, "fp32", True, "dequantize", lossy).passed
    # an in-place merge whose logits are the base's dropped the update (peft over optimum-quanto, measured)
    dropped = merge_verdict(4e-6, 5.0, 3.7, "fp32", True, "dequantize", InPlaceMerge("in place", 3.7, 0.0))
    assert not dropped.passed and "the update was dropped" in dropped.detail
    # a family with no dequantize: the in-place merge alone, against the adapter's effect (50%, floor 10% of scale)
    assert merge_verdict(0.0, 4.9, 6.03, "bf16", True, "", InPlaceMerge("in place", 1.43, 5.0)).passed
    assert not merge_verdict(0.0, 4.9, 6.03, "bf16", True, "", InPlaceMerge("in place", 6.03, 0.5)).passed
    # unquantized: the precision's tolerance
    assert not merge_verdict(0.5, 5.0, 6.0, "fp32", False, "p").passed
