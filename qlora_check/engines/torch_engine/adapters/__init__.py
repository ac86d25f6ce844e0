"""What trains: the whole model, peft LoRA/DoRA, the project's own LoRA layer, or llama_pro's new blocks.

Each training type says how many parameters it should make trainable, derived independently of the
code that makes them trainable, so the `trainable` check compares two answers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from qlora_check.engines.torch_engine.adapters.adapted import Adapted
from qlora_check.engines.torch_engine.adapters.targets import target_modules

if TYPE_CHECKING:
    from qlora_check.engines.torch_engine.adapters.llama_pro import Expansion


def apply_training_type(model: torch.nn.Module, values: dict[str, Any], expansion: Expansion | None = None) -> Adapted:
    """Prepare ``model`` (already loaded, quantized if asked) for the cell's train_type."""
    train_type = values["train_type"]
    if train_type == "full":
        for parameter in model.parameters():
            parameter.requires_grad_(True)
        total = sum(p.numel() for p in model.parameters())
        return Adapted(model, "full", total, "every parameter")
    if train_type == "llama_pro":
        from qlora_check.engines.torch_engine.adapters.llama_pro import train_new_blocks

        if expansion is None:
            raise ValueError("llama_pro needs the expanded checkpoint's description")
        return train_new_blocks(model, expansion)
    targets = target_modules(model, str(values["lora_targets"]))
    rank = int(values["lora_rank"])
    if train_type in ("lora", "qlora", "dora", "qdora"):
        from qlora_check.engines.torch_engine.adapters.peft_lora import apply_peft

        return apply_peft(model, values, targets, dora=train_type.endswith("dora"))
    if train_type in ("custom_lora", "custom_qlora"):
        from qlora_check.engines.torch_engine.adapters.custom_lora import apply_custom_lora

        return apply_custom_lora(model, targets, rank, float(values["lora_alpha"]), float(values["lora_dropout"]))
    raise ValueError(f"unknown train_type {train_type!r}")


def count_parameters(model: torch.nn.Module) -> dict[str, int]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return {"trainable": trainable, "total": total}


__all__ = ["Adapted", "apply_training_type", "count_parameters"]
