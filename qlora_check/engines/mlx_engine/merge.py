"""`merge` and `adapter_reload` for MLX cells: mlx-lm's own fuse (what `mlx_lm fuse` runs) and its adapter loader,
judged on logits. Over a quantized base both fuses run: `fuse(dequantize=True)` (`mlx_lm fuse --dequantize`:
the update added to the dequantized weight, judged by the precision's tolerance) and the default fuse into the
quantized layer (dequantize, add, quantize again: recorded, failed only when it dropped the update)."""

from __future__ import annotations

from typing import Any

import mlx.core as mx
import numpy as np
from mlx.utils import tree_unflatten

from qlora_check.engines.checks import InPlaceMerge, adapter_reload_verdict, merge_skipped, merge_verdict
from qlora_check.results.models import CheckResult


def difference(reference: mx.array, other: mx.array) -> tuple[float, float]:
    """(max |reference - other|, max |reference|) in fp32."""
    a = np.array(reference.astype(mx.float32))
    b = np.array(other.astype(mx.float32))
    return float(np.max(np.abs(a - b))), float(np.max(np.abs(a)))


def fused_layers(model: Any, dequantize: bool) -> list[tuple[str, Any]]:
    """Every adapter layer fused into a new base layer, as `mlx_lm fuse` does (the model is not changed)."""
    fused = [
        (name, module.fuse(dequantize=dequantize)) for name, module in model.named_modules() if hasattr(module, "fuse")
    ]
    if not fused:
        raise ValueError("no adapter layer to fuse")
    return fused


def install(model: Any, fused: list[tuple[str, Any]]) -> None:
    model.update_modules(tree_unflatten(fused))
    mx.eval(model.parameters())


def merge_check(
    model: Any, logits_of: Any, adapted: mx.array, base: mx.array, precision: str, quantized: bool, dora: bool
) -> CheckResult:
    """Fuse the adapters (last: it changes the model) and compare logits with the adapted model's."""
    kind = "DoRA" if dora else "LoRA"
    try:
        exact = fused_layers(model, dequantize=True)
        requantizing = fused_layers(model, dequantize=False) if quantized else []
    except (ValueError, NotImplementedError) as exc:
        return merge_skipped(f"{kind} fuse failed: {exc}")
    install(model, exact)
    diff, scale = difference(adapted, logits_of(model))
    effect, _ = difference(adapted, base)
    if not quantized:
        return merge_verdict(diff, scale, effect, precision, False, "mlx-lm fuse")
    install(model, requantizing)
    in_place_logits = logits_of(model)
    in_place = InPlaceMerge(
        "mlx-lm fuse into the quantized layer",
        difference(adapted, in_place_logits)[0],
        difference(base, in_place_logits)[0],
    )
    return merge_verdict(diff, scale, effect, precision, True, "mlx-lm fuse --dequantize", in_place)


def adapter_reload_check(trained: mx.array, reloaded: mx.array, precision: str) -> CheckResult:
    diff, scale = difference(trained, reloaded)
    return adapter_reload_verdict(diff, scale, precision, "mlx-lm adapters.safetensors -> load_adapters")
