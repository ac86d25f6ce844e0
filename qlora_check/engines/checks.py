"""Framework-independent checks: verdicts on what a cell recorded or measured, shared by the engines.

Each returns a `CheckResult` with the figures behind the verdict, so a report can show why. The engines
measure (hashes, logits differences, counts); the verdicts and their tolerances live here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from qlora_check.results.models import CheckResult


def finite_check(losses: Sequence[float]) -> CheckResult:
    """Every recorded loss is a finite number."""
    bad = [index for index, loss in enumerate(losses) if not math.isfinite(loss)]
    if not losses:
        return CheckResult("finite", False, "no losses were recorded", {"steps": 0})
    if bad:
        return CheckResult(
            "finite",
            False,
            f"loss is not finite at step {bad[0]} ({losses[bad[0]]})",
            {"first_bad_step": bad[0], "bad_steps": len(bad)},
        )
    return CheckResult("finite", True, f"all {len(losses)} losses finite", {"steps": len(losses)})


def learned_check(losses: Sequence[float], margin: float) -> CheckResult:
    """The mean loss of the last quarter of steps is at least ``margin`` (a fraction) below the first quarter's.

    Quarters (not single steps) so that one noisy step decides nothing.
    """
    if len(losses) < 4:
        return CheckResult("learned", False, f"needs at least 4 steps, got {len(losses)}", {"steps": len(losses)})
    quarter = len(losses) // 4
    early = sum(losses[:quarter]) / quarter
    late = sum(losses[-quarter:]) / quarter
    figures = {"early_mean": round(early, 6), "late_mean": round(late, 6), "margin": margin}
    if not (math.isfinite(early) and math.isfinite(late)):
        return CheckResult("learned", False, "losses are not finite", figures)
    drop = (early - late) / early if early > 0 else 0.0
    figures["relative_drop"] = round(drop, 6)
    passed = drop >= margin
    detail = f"mean loss went from {early:.3f} to {late:.3f}: a {drop:.1%} drop (needs {margin:.0%})"
    return CheckResult("learned", passed, detail, figures)


# --- learning-rate schedules -----------------------------------------------------------------------------------
# The closed forms, written down independently of the libraries that implement them, so that `lr_schedule`
# compares two derivations. Each matches transformers' schedule of the same name with the extra arguments in
# SCHEDULE_ARGUMENTS (torch engine) and is what the MLX engine's schedules must produce too.

SCHEDULE_ARGUMENTS: dict[str, dict[str, float]] = {
    "cosine": {"num_cycles": 0.5},
    "cosine_with_restarts": {"num_cycles": 2},
    "polynomial": {"power": 2.0, "lr_end": 0.0},
    "exponential": {"final_ratio": 0.01},
}


def warmup_steps(warmup: float, steps: int) -> int:
    """``warmup`` below 1 is a ratio of the steps, else a number of steps (never more than the steps)."""
    return round(warmup * steps) if warmup < 1 else min(int(warmup), steps)


def lr_multiplier(schedule: str, step: int, steps: int, warmup: int) -> float:
    """The factor on the peak learning rate at optimizer step ``step`` (0-based) of ``steps``."""
    if step < warmup:
        return step / max(1, warmup)
    decay_steps = max(1, steps - warmup)
    progress = (step - warmup) / decay_steps
    if schedule == "constant":
        return 1.0
    if schedule == "linear":
        return max(0.0, (steps - step) / decay_steps)
    if schedule == "cosine":
        cycles = SCHEDULE_ARGUMENTS["cosine"]["num_cycles"]
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * cycles * 2.0 * progress)))
    if schedule == "cosine_with_restarts":
        if progress >= 1.0:
            return 0.0
        cycles = SCHEDULE_ARGUMENTS["cosine_with_restarts"]["num_cycles"]
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * ((cycles * progress) % 1.0))))
    if schedule == "polynomial":
        power = SCHEDULE_ARGUMENTS["polynomial"]["power"]
        return (1.0 - progress) ** power if step <= steps else 0.0
    if schedule == "exponential":
        # Decays to final_ratio of the peak after the decay steps: gamma ** decay_steps == final_ratio.
        gamma = SCHEDULE_ARGUMENTS["exponential"]["final_ratio"] ** (1.0 / decay_steps)
        return float(gamma ** (step - warmup))
    raise ValueError(f"unknown schedule {schedule!r}")


def expected_lrs(schedule: str, peak: float, steps: int, warmup: int) -> list[float]:
    """The learning rate in force at each optimizer step, by the closed form."""
    return [peak * lr_multiplier(schedule, step, steps, warmup) for step in range(steps)]


def lr_schedule_check(recorded: Sequence[float], expected: Sequence[float], rel_tol: float = 1e-6) -> CheckResult:
    """The recorded LR trace equals the closed form at every step (relative to the peak)."""
    figures: dict[str, Any] = {"steps": len(recorded), "expected_steps": len(expected), "rel_tol": rel_tol}
    if len(recorded) != len(expected) or not recorded:
        return CheckResult("lr_schedule", False, f"recorded {len(recorded)} LRs, expected {len(expected)}", figures)
    scale = max(max(abs(x) for x in expected), 1e-30)
    errors = [abs(a - b) / scale for a, b in zip(recorded, expected, strict=True)]
    worst = max(range(len(errors)), key=errors.__getitem__)
    figures.update(max_rel_error=errors[worst], worst_step=worst, recorded=recorded[worst], expected=expected[worst])
    if errors[worst] > rel_tol:
        detail = f"LR at step {worst} is {recorded[worst]:.6g}, the closed form says {expected[worst]:.6g}"
        return CheckResult("lr_schedule", False, detail, figures)
    return CheckResult("lr_schedule", True, f"all {len(recorded)} LRs match the closed form", figures)


# --- comparisons the engines measure ---------------------------------------------------------------------------

# (atol, rtol) for comparing two computations of the same numbers, by the dtype that does the arithmetic.
TOLERANCES: dict[str, tuple[float, float]] = {
    "fp32": (1e-5, 1e-4),
    "fp16": (2e-3, 1e-2),
    "bf16": (1e-2, 3e-2),
}


def tolerance_for(precision: str) -> tuple[float, float]:
    """Tolerance by the lowest-precision dtype a precision computes in."""
    if precision.startswith("fp16"):
        return TOLERANCES["fp16"]
    if precision.startswith("bf16"):
        return TOLERANCES["bf16"]
    return TOLERANCES["fp32"]


def closeness_check(
    name: str, max_abs_diff: float, scale: float, atol: float, rtol: float, what: str, **extra: Any
) -> CheckResult:
    """Two computations agree: ``max_abs_diff <= atol + rtol * scale`` (``scale``: the reference's max abs)."""
    limit = atol + rtol * scale
    figures = {"max_abs_diff": max_abs_diff, "scale": scale, "atol": atol, "rtol": rtol, "limit": limit, **extra}
    passed = math.isfinite(max_abs_diff) and max_abs_diff <= limit
    verdict = "agree" if passed else "differ"
    return CheckResult(name, passed, f"{what} {verdict}: max |diff| {max_abs_diff:.3g} (limit {limit:.3g})", figures)


def quantized_check(expected: bool, modules: int, quantized_bytes: int, unquantized_bytes: int) -> CheckResult:
    """A quantizer was asked for: some modules are quantized and take fewer bytes than unquantized weights."""
    figures: dict[str, Any] = {
        "modules": modules,
        "quantized_bytes": quantized_bytes,
        "unquantized_bytes": unquantized_bytes,
    }
    if not expected:
        passed = modules == 0
        return CheckResult("quantized", passed, f"no quantizer; {modules} quantized modules found", figures)
    if modules == 0:
        return CheckResult("quantized", False, "the quantizer left no module quantized", figures)
    ratio = quantized_bytes / unquantized_bytes if unquantized_bytes else math.inf
    figures["ratio"] = round(ratio, 4)
    passed = ratio < 1.0
    detail = f"{modules} modules quantized: {quantized_bytes} bytes, {ratio:.1%} of the unquantized weights"
    return CheckResult("quantized", passed, detail, figures)


def trainable_check(actual: int, expected: int, rule: str) -> CheckResult:
    """The trainable parameter count equals what the training type implies (``rule`` says how it was derived)."""
    figures = {"actual": actual, "expected": expected, "rule": rule}
    passed = actual == expected and actual > 0
    return CheckResult("trainable", passed, f"{actual} trainable parameters, expected {expected} ({rule})", figures)


def frozen_base_check(before: Mapping[str, str], after: Mapping[str, str]) -> CheckResult:
    """Every frozen tensor has the same content hash after training as before."""
    changed = sorted(name for name in before if after.get(name) != before[name])
    missing = sorted(set(before) ^ set(after))
    figures = {"tensors": len(before), "changed": len(changed), "first_changed": changed[:5], "mismatched": missing[:5]}
    if not before:
        return CheckResult("frozen_base", False, "no frozen tensors to compare", figures)
    if changed or missing:
        detail = f"{len(changed)} of {len(before)} frozen tensors changed (first: {(changed or missing)[0]})"
        return CheckResult("frozen_base", False, detail, figures)
    return CheckResult("frozen_base", True, f"all {len(before)} frozen tensors unchanged", figures)


# --- merge and adapter reload ----------------------------------------------------------------------------------
# Over a quantized base there are two merges. Dequantize -> merge (the base's weights dequantized into a plain
# layer, the update added in full precision: how a QLoRA model is shipped) is exact up to rounding, so it is
# judged by the precision's tolerance. The library's own merge into the quantized layer (dequantize, add,
# quantize again) re-quantizes the sum: below 4 bits, and with the small updates a few steps make, that rounds
# most of the update away (measured at 20 steps: hqq 2-bit kept 2-4% of the adapter's effect, mlx 2-bit 6-40%),
# which is how re-quantization works, not a defect. It is recorded (how much of the effect it kept) and fails
# only when it dropped the update outright: merged logits equal to the base's.
QUANTIZED_MERGE_FRACTION = 0.5  # the in-place merge alone (a family with no dequantize): at most 50% of the effect
QUANTIZED_MERGE_FLOOR = 0.1  # ... unless the effect itself is under 10% of the logits' scale (noise hides it)
# In 16-bit precisions the merged weight is rounded once more than the adapted model's computation, which keeps
# base and update apart. Measured on matrices/full.yaml (max |diff| / the identity tolerance): torch bf16 up to
# 0.53, torch fp16 up to 0.22, mlx 4-bit bf16 `fuse --dequantize` 1.09. A lost or doubled update is 10-40x that.
MERGE_ROUNDING = 2.0
DROPPED_UPDATE_FRACTION = 1e-6  # in-place merged logits this close to the base's (relative): nothing was added


@dataclass(frozen=True)
class InPlaceMerge:
    """The library's own merge into the quantized layer: logits against the adapted model's and the base's."""

    path: str
    diff: float  # max |in-place merged - adapted|
    from_base: float  # max |in-place merged - base|


def merge_verdict(
    diff: float,
    scale: float,
    effect: float,
    precision: str,
    quantized: bool,
    path: str,
    in_place: InPlaceMerge | None = None,
) -> CheckResult:
    """Merged and adapted logits agree within the precision's tolerance (``diff``: max |merged - adapted|,
    ``effect``: max |adapted - base|). Over a quantized base ``path`` is the dequantize -> merge path and
    ``in_place`` the library's requantizing merge, judged only for dropping the update."""
    extra: dict[str, Any] = {"path": path, "adapter_effect": effect}
    atol, rtol = tolerance_for(precision)
    if not precision.startswith("fp32"):  # the merged weight W + ΔW is rounded to 16 bits once more
        atol, rtol = atol * MERGE_ROUNDING, rtol * MERGE_ROUNDING
    what = "logits of the merged and the adapted model"
    if not quantized:
        return closeness_check("merge", diff, scale, atol, rtol, what, **extra)
    if not path:  # no dequantize path in this family: the in-place merge is all there is, judged relatively
        assert in_place is not None
        return _relative_merge_verdict(in_place, scale, effect, extra)
    judged = closeness_check(
        "merge", diff, scale, atol, rtol, "logits of the dequantize -> merge model and the adapted model", **extra
    )
    if in_place is None:
        return judged
    kept = max(0.0, 1.0 - in_place.diff / effect) if effect > 0 else 0.0
    dropped = effect > 0 and in_place.from_base <= DROPPED_UPDATE_FRACTION * max(scale, 1e-12)
    figures = {
        **judged.figures,
        "in_place": {"path": in_place.path, "max_abs_diff": in_place.diff, "from_base": in_place.from_base},
        "in_place_kept": kept,
    }
    detail = f"{judged.detail}; in place ({in_place.path}): kept {kept:.0%} of the adapter's effect"
    if dropped:
        detail = (
            f"{judged.detail}; in place ({in_place.path}): the merged model gives the base's logits "
            f"(max |diff| {in_place.from_base:.3g}): the update was dropped"
        )
    return CheckResult("merge", judged.passed and not dropped, detail, figures)


def _relative_merge_verdict(in_place: InPlaceMerge, scale: float, effect: float, extra: dict[str, Any]) -> CheckResult:
    limit = max(QUANTIZED_MERGE_FRACTION * effect, QUANTIZED_MERGE_FLOOR * scale)
    figures = {"max_abs_diff": in_place.diff, "scale": scale, "limit": limit, **extra, "path": in_place.path}
    passed = math.isfinite(in_place.diff) and in_place.diff <= limit and effect > 0
    detail = (
        f"merged into the quantized base ({in_place.path}; no dequantize path): max |diff| {in_place.diff:.3g} "
        f"against the adapter's effect {effect:.3g} (limit {limit:.3g}, {QUANTIZED_MERGE_FRACTION:.0%})"
    )
    return CheckResult("merge", passed, detail, figures)


def merge_skipped(reason: str) -> CheckResult:
    """A merge with no path users can take here: recorded with its reason, not failed."""
    return CheckResult("merge", True, f"not run: {reason}", {"skipped": True, "reason": reason})


def adapter_reload_verdict(diff: float, scale: float, precision: str, path: str) -> CheckResult:
    """The adapter saved alone and loaded onto a freshly loaded base gives the trained model's logits."""
    atol, rtol = tolerance_for(precision)
    what = "logits of the trained model and of a fresh base with the saved adapter"
    return closeness_check("adapter_reload", diff, scale, atol, rtol, what, path=path)
