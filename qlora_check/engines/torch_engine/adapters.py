"""What trains: the whole model, or adapters over a frozen base."""

from __future__ import annotations

from typing import Any

import torch

ALL_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
ATTENTION_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj")


def lora_targets(spec: str) -> list[str]:
    """``all``, ``attn``, or a comma-separated list of module names."""
    if spec == "all":
        return list(ALL_TARGETS)
    if spec == "attn":
        return list(ATTENTION_TARGETS)
    targets = [name.strip() for name in spec.split(",") if name.strip()]
    if not targets:
        raise ValueError(f"lora_targets {spec!r} names no modules")
    return targets


def apply_training_type(model: torch.nn.Module, values: dict[str, Any]) -> torch.nn.Module:
    """Prepare ``model`` for the cell's train_type; returns the model to train."""
    train_type = values["train_type"]
    if train_type == "full":
        for parameter in model.parameters():
            parameter.requires_grad_(True)
        return model
    if train_type in ("lora", "dora"):
        from peft import LoraConfig, get_peft_model

        config = LoraConfig(
            r=values["lora_rank"],
            lora_alpha=values["lora_alpha"],
            lora_dropout=values["lora_dropout"],
            target_modules=lora_targets(values["lora_targets"]),
            use_dora=train_type == "dora",
            task_type="CAUSAL_LM",
        )
        peft_model: torch.nn.Module = get_peft_model(model, config)
        return peft_model
    raise NotImplementedError(f"train_type {train_type} is not implemented by the torch engine yet")


def count_parameters(model: torch.nn.Module) -> dict[str, int]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return {"trainable": trainable, "total": total}
