"""The `merge` and `adapter_reload` checks: a trained adapter merged into its base (or saved alone and loaded
onto a fresh base) must give the logits the adapted model gives.

Merge paths, as users take them. Unquantized base: peft's `merge_and_unload`; the custom layer's own merge
(W += alpha/r · B·A). Quantized base, two paths, both run: dequantize -> merge (the quantized weights, as the
family dequantizes them, in a plain model of the same architecture; the trained adapter loaded onto it and
merged there, by peft or by the custom layer's rule: how a QLoRA model is shipped) is judged by the
precision's tolerance; peft's `merge_and_unload` into the quantized layer itself (dequantize, add, quantize
again) is recorded with how much of the adapter's effect survived re-quantization, and fails only when it
dropped the update (see `engines/checks.py`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch

from qlora_check.engines.checks import InPlaceMerge, adapter_reload_verdict, merge_skipped, merge_verdict
from qlora_check.engines.torch_engine import measure
from qlora_check.engines.torch_engine.adapters import Adapted
from qlora_check.quantizers.interface import TorchQuantizer
from qlora_check.results.models import CheckResult

__all__ = [
    "InPlaceMerge",
    "MergeUnsupported",
    "adapter_reload_check",
    "dequantized_merge",
    "merge_adapters",
    "merge_check",
    "merge_skipped",
]

PlainBase = Callable[[], torch.nn.Module]  # a fresh unquantized base of the cell's model, dtype and device


class MergeUnsupported(Exception):
    """This kind of adapter over this base has no merge path users can take."""


def merge_adapters(adapted: Adapted, quantized: bool) -> tuple[torch.nn.Module, str]:
    """The adapted model with its adapters merged into the base weights (in place), and the path taken."""
    if adapted.kind == "peft":
        merged: torch.nn.Module = adapted.model.merge_and_unload()  # type: ignore[operator]
        if quantized:
            return merged, "peft merge_and_unload into the quantized layer"
        return merged, "peft merge_and_unload"
    if adapted.kind == "custom":
        if quantized:
            raise MergeUnsupported("the custom LoRA layer has no merge into a quantized layer")
        return _merge_custom(adapted.model, None), "own merge: W += (alpha / r) · B · A"
    raise MergeUnsupported(f"{adapted.kind} training has no adapter to merge")


def dequantized_merge(
    adapted: Adapted, quantizer: TorchQuantizer, plain_base: PlainBase
) -> tuple[torch.nn.Module, str]:
    """A new model: the quantized base dequantized into plain layers with the trained adapter merged into them.

    peft adapters are loaded onto a fresh plain base (the checkpoint, with each quantized layer's weight
    replaced by its dequantized value) and merged by peft; the custom layer merges into a plain copy of each
    base layer in place (it is the last check). Raises MergeUnsupported when the family cannot dequantize.
    """
    family = quantizer.family
    if adapted.kind == "peft":
        from peft import get_peft_model, get_peft_model_state_dict, set_peft_model_state_dict

        peft_model = adapted.model
        plain = plain_base()
        inner = peft_model.get_base_model()  # type: ignore[operator]
        for name, module in inner.named_modules():
            if not quantizer.is_quantized(module):
                continue
            weight = _dequantized(quantizer, module)
            target = plain.get_submodule(name.replace(".base_layer", ""))
            with torch.no_grad():
                target.weight.copy_(weight.to(target.weight.dtype))
        config = copy.deepcopy(peft_model.peft_config["default"])  # type: ignore[index]
        fresh = get_peft_model(plain, config)
        set_peft_model_state_dict(fresh, get_peft_model_state_dict(peft_model))
        merged: torch.nn.Module = fresh.merge_and_unload()
        return merged, f"dequantize ({family}) -> peft merge_and_unload into a plain base"
    if adapted.kind == "custom":
        return _merge_custom(adapted.model, quantizer), f"dequantize ({family}) -> own merge: W += (alpha / r) · B · A"
    raise MergeUnsupported(f"{adapted.kind} training has no adapter to merge")


def _dequantized(quantizer: TorchQuantizer, module: torch.nn.Module) -> torch.Tensor:
    weight = quantizer.dequantize(module)
    if weight is None:
        raise MergeUnsupported(f"the {quantizer.family} family has no dequantize path")
    return weight


def _merge_custom(model: torch.nn.Module, quantizer: TorchQuantizer | None) -> torch.nn.Module:
    """Each LoraLinear replaced by a plain layer holding base + update (the base dequantized when quantized)."""
    from qlora_check.engines.torch_engine.adapters.custom_lora import LoraLinear

    for name, module in list(model.named_modules()):
        if not isinstance(module, LoraLinear):
            continue
        base = module.base
        with torch.no_grad():
            delta = (module.lora_B.float() @ module.lora_A.float()) * module.scaling
            if quantizer is not None and quantizer.is_quantized(base):
                weight = _dequantized(quantizer, base)
                plain = torch.nn.Linear(
                    module.in_features, module.out_features, bias=base.bias is not None, device=weight.device
                )
                plain.weight = torch.nn.Parameter((weight.float() + delta).to(weight.dtype), requires_grad=False)
                if base.bias is not None:
                    plain.bias = torch.nn.Parameter(base.bias.detach().clone(), requires_grad=False)
                base = plain
            else:
                base.weight.add_(delta.to(base.weight.dtype))
        parent_name, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent_name) if parent_name else model, child, base)
    return model


def merge_check(
    merged: torch.Tensor,
    adapted: torch.Tensor,
    base: torch.Tensor,
    precision: str,
    quantized: bool,
    path: str,
    in_place: tuple[torch.Tensor, str] | None = None,
) -> CheckResult:
    """Merged and adapted logits agree; ``in_place``: logits after the library's requantizing merge, and its path."""
    diff, scale = measure.difference(adapted, merged)
    effect, _ = measure.difference(adapted, base)
    requantized = None
    if in_place is not None:
        logits, in_place_path = in_place
        requantized = InPlaceMerge(
            in_place_path, measure.difference(adapted, logits)[0], measure.difference(base, logits)[0]
        )
    return merge_verdict(diff, scale, effect, precision, quantized, path, requantized)


def adapter_reload_check(trained: torch.Tensor, reloaded: torch.Tensor, precision: str, path: str) -> CheckResult:
    diff, scale = measure.difference(trained, reloaded)
    return adapter_reload_verdict(diff, scale, precision, path)
