"""Which linear modules the LoRA knobs name, found in the model (quantized or not)."""

from __future__ import annotations

import torch

from qlora_check.engines.lora_targets import lora_targets


def target_modules(model: torch.nn.Module, spec: str) -> dict[str, torch.nn.Module]:
    """Full name -> module for every module whose last name part is a target and that has in/out features."""
    config = getattr(model, "config", None)
    names = set(lora_targets(spec, getattr(config, "model_type", None)))
    found = {
        name: module
        for name, module in model.named_modules()
        if name.rsplit(".", 1)[-1] in names and hasattr(module, "in_features") and hasattr(module, "out_features")
    }
    if not found:
        raise ValueError(f"lora_targets {spec!r} match no module of {type(model).__name__}")
    return found


def lora_parameter_count(modules: dict[str, torch.nn.Module], rank: int, dora: bool = False) -> int:
    """r·(in+out) per module (A and B), plus out for DoRA's magnitude vector."""
    total = 0
    for module in modules.values():
        in_features, out_features = int(module.in_features), int(module.out_features)
        total += rank * (in_features + out_features) + (out_features if dora else 0)
    return total
