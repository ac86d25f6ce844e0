"""The `merge` and `adapter_reload` checks: a trained adapter merged into its base (or saved alone and loaded
onto a fresh base) must give the logits the adapted model gives.

Merge paths, as users take them: peft's `merge_and_unload` (over a quantized base peft merges into the
quantized layer itself: dequantize, add the update, quantize again, where its layer for that library has a
merge); the custom layer's own merge over an unquantized base (W += alpha/r · B·A). Over a quantized base the
re-quantization moves the logits by about the quantization error, so that verdict is relative: the merged
model must be far closer to the adapted model than the base is (the adapter's own effect); unquantized
merges are judged by the precision's tolerance.
"""

from __future__ import annotations

import torch

from qlora_check.engines.checks import adapter_reload_verdict, merge_skipped, merge_verdict
from qlora_check.engines.torch_engine import measure
from qlora_check.engines.torch_engine.adapters import Adapted
from qlora_check.results.models import CheckResult

__all__ = ["MergeUnsupported", "adapter_reload_check", "merge_adapters", "merge_check", "merge_skipped"]


class MergeUnsupported(Exception):
    """This kind of adapter over this base has no merge path users can take."""


def merge_adapters(adapted: Adapted, quantized: bool) -> tuple[torch.nn.Module, str]:
    """The adapted model with its adapters merged into the base weights (in place), and the path taken."""
    if adapted.kind == "peft":
        merged: torch.nn.Module = adapted.model.merge_and_unload()  # type: ignore[operator]
        if quantized:
            return merged, "peft merge_and_unload into the quantized layer (dequantize, add, requantize)"
        return merged, "peft merge_and_unload"
    if adapted.kind == "custom":
        if quantized:
            raise MergeUnsupported("the custom LoRA layer has no merge into a quantized base (no dequantize path)")
        return _merge_custom(adapted.model), "own merge: W += (alpha / r) · B · A"
    raise MergeUnsupported(f"{adapted.kind} training has no adapter to merge")


def _merge_custom(model: torch.nn.Module) -> torch.nn.Module:
    from qlora_check.engines.torch_engine.adapters.custom_lora import LoraLinear

    for name, module in list(model.named_modules()):
        if not isinstance(module, LoraLinear):
            continue
        base = module.base
        with torch.no_grad():
            delta = (module.lora_B.float() @ module.lora_A.float()) * module.scaling
            base.weight.add_(delta.to(base.weight.dtype))
        parent_name, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent_name) if parent_name else model, child, base)
    return model


def merge_check(
    merged: torch.Tensor, adapted: torch.Tensor, base: torch.Tensor, precision: str, quantized: bool, path: str
) -> CheckResult:
    """Merged and adapted logits agree (quantized base: relative to the adapter's own effect)."""
    diff, scale = measure.difference(adapted, merged)
    effect, _ = measure.difference(adapted, base)
    return merge_verdict(diff, scale, effect, precision, quantized, path)


def adapter_reload_check(trained: torch.Tensor, reloaded: torch.Tensor, precision: str, path: str) -> CheckResult:
    diff, scale = measure.difference(trained, reloaded)
    return adapter_reload_verdict(diff, scale, precision, path)
