"""Checks an MLX cell computes about itself, beyond the framework-free ``finite`` and ``learned``.

Each takes plain inputs (parameter snapshots, logits, recorded LRs, losses) so that a test can feed it a
corrupted input and see it fail. A check that cannot apply to a cell (``frozen_base`` for full
fine-tuning) passes with ``figures["skipped"] = True`` and says why: n/a is never a failure.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import mlx.core as mx
import mlx.nn as nn

from qlora_check.engines.mlx_engine.adapters import ADAPTER_LEAVES
from qlora_check.engines.mlx_engine.train import scalar
from qlora_check.quantizers.mlx import QuantizationReport
from qlora_check.results.models import CheckResult

Snapshot = dict[str, mx.array]
# Largest |logit difference| / max(1, max|logit|) for identity_init, by the base's dtype. fp32 is strict.
# Half precision is loose on purpose: mlx-lm's DoRALinear over a quantized base computes dequantize + matmul
# while the base computes quantized_matmul, and on MLX's CPU those kernels differ by up to 5.2% (bf16) and
# 0.5% (fp16) of the largest logit on the tiny model (measured, mlx 0.32.4). Exact zero B is checked apart.
IDENTITY_TOLERANCE = {"fp32": 1e-5, "fp16": 2**-5, "bf16": 2**-3}
LR_TOLERANCE = 1e-5  # relative to the peak LR; MLX evaluates schedules in float32
CHECKPOINT_TOLERANCE = 1e-5  # relative; the reloaded model computes the same thing
# A quantized weight further than this from the original (relative Frobenius norm) is garbage.
MAX_QUANTIZATION_ERROR = 0.75


def skipped(name: str, reason: str) -> CheckResult:
    return CheckResult(name, True, f"not applicable: {reason}", {"skipped": True, "reason": reason})


def trainable_check(fine_tune_type: str, before: Snapshot, after: Snapshot) -> CheckResult:
    """The right parameters are trainable (adapter leaves only, or everything for full) and all of them moved."""
    if not before:
        return CheckResult("trainable", False, "no parameter is trainable", {"trainable_tensors": 0})
    figures: dict[str, object] = {"trainable_tensors": len(before), "trainable_elements": _elements(before)}
    if fine_tune_type != "full":
        allowed = ADAPTER_LEAVES[fine_tune_type]
        strays = sorted(name for name in before if name.rpartition(".")[2] not in allowed)
        if strays:
            figures["not_adapter"] = strays[:10]
            return CheckResult(
                "trainable", False, f"{len(strays)} non-adapter tensors are trainable: {strays[0]}", figures
            )
    unchanged = sorted(name for name in before if name not in after or mx.array_equal(before[name], after[name]).item())
    figures["unchanged"] = unchanged[:10]
    if unchanged:
        detail = f"{len(unchanged)} of {len(before)} trainable tensors did not change: {unchanged[0]}"
        return CheckResult("trainable", False, detail, figures)
    return CheckResult("trainable", True, f"all {len(before)} trainable tensors ({fine_tune_type}) changed", figures)


def frozen_base_check(before: Snapshot, after: Snapshot) -> CheckResult:
    """Every frozen base tensor (quantized packs, scales and biases included) is bit-for-bit unchanged."""
    if not before:
        return CheckResult("frozen_base", False, "no frozen tensor to compare", {"frozen_tensors": 0})
    changed = sorted(
        name for name in before if name not in after or not mx.array_equal(before[name], after[name]).item()
    )
    figures = {"frozen_tensors": len(before), "frozen_elements": _elements(before), "changed": changed[:10]}
    if changed:
        return CheckResult("frozen_base", False, f"{len(changed)} frozen tensors changed: {changed[0]}", figures)
    return CheckResult("frozen_base", True, f"all {len(before)} frozen tensors unchanged", figures)


def quantized_check(report: QuantizationReport, targets: Sequence[str], model: nn.Module) -> CheckResult:
    """Every targeted Linear is (still, after training) an MLX QuantizedLinear with the asked bits and group."""
    found = {path: module for path, module in model.named_modules() if isinstance(module, nn.QuantizedLinear)}
    figures = {**report.to_dict(), "targets": len(targets), "quantized_at_end": len(found)}
    figures.pop("modules")
    if report.quantizer == "none":
        if found:
            return CheckResult("quantized", False, f"quantizer none, yet {len(found)} layers are quantized", figures)
        return skipped("quantized", "quantizer is none (and no layer is quantized)")
    # LoRA wraps a base Linear as ``<path>.linear``.
    at_end = {path.removesuffix(".linear"): module for path, module in found.items()}
    missing = [path for path in targets if path not in at_end]
    wrong = [
        path
        for path in targets
        if path in at_end and (at_end[path].bits != report.bits or at_end[path].group_size != report.group_size)
    ]
    error = report.relative_error
    if not targets or missing:
        detail = f"{len(missing)} of {len(targets)} target layers are not quantized" + (
            f": {missing[0]}" if missing else ""
        )
        return CheckResult("quantized", False, detail, figures)
    if wrong:
        return CheckResult("quantized", False, f"{wrong[0]} has other bits or group size than asked", figures)
    if error is None or not math.isfinite(error) or error > MAX_QUANTIZATION_ERROR:
        return CheckResult("quantized", False, f"dequantized weights are {error} away from the originals", figures)
    detail = (
        f"{len(targets)} block Linears quantized to {report.bits} bits, group {report.group_size} "
        f"(weight error {error:.3f}); {len(report.left_in_float)} left in float"
    )
    return CheckResult("quantized", True, detail, figures)


def identity_init_check(
    base_logits: mx.array, adapted_logits: mx.array, lora_b: Snapshot, precision: str
) -> CheckResult:
    """Freshly added adapters change nothing: every LoRA B is zero and the logits equal the base model's."""
    nonzero = sorted(name for name, value in lora_b.items() if mx.any(value != 0).item())
    difference = scalar(mx.max(mx.abs(adapted_logits.astype(mx.float32) - base_logits.astype(mx.float32))))
    scale = max(1.0, scalar(mx.max(mx.abs(base_logits.astype(mx.float32)))))
    tolerance = IDENTITY_TOLERANCE[precision] * scale
    figures = {
        "lora_b_tensors": len(lora_b),
        "nonzero_lora_b": nonzero[:10],
        "max_abs_logit_diff": difference,
        "tolerance": tolerance,
    }
    if not lora_b:
        return CheckResult("identity_init", False, "no LoRA B matrix found", figures)
    if nonzero:
        return CheckResult(
            "identity_init", False, f"{len(nonzero)} LoRA B matrices are not zero: {nonzero[0]}", figures
        )
    if not difference <= tolerance:
        return CheckResult(
            "identity_init", False, f"adapters changed the logits by {difference:.3g} (> {tolerance:.3g})", figures
        )
    return CheckResult("identity_init", True, f"LoRA B all zero; logits differ by {difference:.3g} at most", figures)


def lr_schedule_check(recorded: Sequence[float], expected: Sequence[float], peak: float) -> CheckResult:
    """The LR the optimizer used at each step equals the closed-form schedule."""
    if len(recorded) != len(expected):
        detail = f"{len(recorded)} LRs recorded for {len(expected)} steps"
        return CheckResult("lr_schedule", False, detail, {"recorded": len(recorded), "expected": len(expected)})
    tolerance = LR_TOLERANCE * max(peak, 1e-12)
    errors = [abs(got - want) for got, want in zip(recorded, expected, strict=True)]
    worst = max(range(len(errors)), key=errors.__getitem__, default=0)
    figures = {"max_abs_error": max(errors, default=0.0), "tolerance": tolerance, "steps": len(errors)}
    if errors and not errors[worst] <= tolerance:
        figures["worst_step"] = worst
        detail = f"step {worst}: LR {recorded[worst]:.6g}, closed form says {expected[worst]:.6g}"
        return CheckResult("lr_schedule", False, detail, figures)
    return CheckResult("lr_schedule", True, f"{len(errors)} LRs match the closed form", figures)


def checkpoint_check(trained_loss: float, reloaded_loss: float, base_loss: float) -> CheckResult:
    """The saved adapter, loaded into a fresh base, gives the trained model's eval loss (and not the base's)."""
    tolerance = CHECKPOINT_TOLERANCE * max(1.0, abs(trained_loss))
    figures = {
        "trained_eval_loss": trained_loss,
        "reloaded_eval_loss": reloaded_loss,
        "base_eval_loss": base_loss,
        "tolerance": tolerance,
    }
    if not abs(reloaded_loss - trained_loss) <= tolerance:
        detail = f"reloaded eval loss {reloaded_loss:.6f} differs from the trained model's {trained_loss:.6f}"
        return CheckResult("checkpoint", False, detail, figures)
    if not abs(base_loss - trained_loss) > tolerance:
        return CheckResult("checkpoint", False, "training did not change the eval loss: nothing to round-trip", figures)
    return CheckResult(
        "checkpoint", True, f"reloaded eval loss {reloaded_loss:.6f} equals the trained model's", figures
    )


def _elements(snapshot: Snapshot) -> int:
    return sum(value.size for value in snapshot.values())
