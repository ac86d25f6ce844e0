"""`merge` and `adapter_reload` for MLX cells: mlx-lm's own fuse (what `mlx_lm fuse` runs; over a quantized base
it dequantizes, adds the update and quantizes again) and its adapter loader, judged on logits."""

from __future__ import annotations

from typing import Any

import mlx.core as mx
import numpy as np
from mlx.utils import tree_unflatten

from qlora_check.engines.checks import adapter_reload_verdict, merge_skipped, merge_verdict
from qlora_check.results.models import CheckResult


def difference(reference: mx.array, other: mx.array) -> tuple[float, float]:
    """(max |reference - other|, max |reference|) in fp32."""
    a = np.array(reference.astype(mx.float32))
    b = np.array(other.astype(mx.float32))
    return float(np.max(np.abs(a - b))), float(np.max(np.abs(a)))


def fuse(model: Any, quantized: bool) -> str:
    """Fuse every adapter layer into its base in place, as `mlx_lm fuse` does; returns the path taken."""
    fused = [(name, module.fuse(dequantize=False)) for name, module in model.named_modules() if hasattr(module, "fuse")]
    if not fused:
        raise ValueError("no adapter layer to fuse")
    model.update_modules(tree_unflatten(fused))
    mx.eval(model.parameters())
    return "mlx-lm fuse into the quantized layer (dequantize, add, quantize)" if quantized else "mlx-lm fuse"


def merge_check(
    model: Any, logits_of: Any, adapted: mx.array, base: mx.array, precision: str, quantized: bool, dora: bool
) -> CheckResult:
    """Fuse the adapters (last: it changes the model) and compare logits with the adapted model's."""
    try:
        path = fuse(model, quantized)
    except (ValueError, NotImplementedError) as exc:
        return merge_skipped(f"{'DoRA' if dora else 'LoRA'} fuse failed: {exc}")
    diff, scale = difference(adapted, logits_of(model))
    effect, _ = difference(adapted, base)
    return merge_verdict(diff, scale, effect, precision, quantized, path)


def adapter_reload_check(trained: mx.array, reloaded: mx.array, precision: str) -> CheckResult:
    diff, scale = difference(trained, reloaded)
    return adapter_reload_verdict(diff, scale, precision, "mlx-lm adapters.safetensors -> load_adapters")
