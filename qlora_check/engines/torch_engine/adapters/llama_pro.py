"""llama_pro block expansion: insert copies of decoder blocks whose output projections start at zero.

A copied block whose attention output (o_proj) and MLP output (down_proj) are zero adds nothing to the
residual stream, so the expanded model computes the same function as the original (the identity check
proves it). Only the new blocks train; the original blocks stay frozen, quantized or not. The expansion
is written as a new checkpoint so that every quantizer loads it by its ordinary path, told to leave the
new blocks unquantized.
"""

from __future__ import annotations

import copy
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from qlora_check.engines.torch_engine import models
from qlora_check.engines.torch_engine.adapters.adapted import Adapted
from qlora_check.torch_models import decoder_layers, layers_owner

ZEROED = ("o_proj", "down_proj")


@dataclass(frozen=True)
class Expansion:
    """Where the new blocks sit in the expanded model, and how many parameters one block has."""

    new_layers: tuple[int, ...]
    block_parameters: int
    original_layers: int


def new_block_positions(layers: int, blocks: int) -> list[int]:
    """Indices (in the original model) after which a copy is inserted: evenly spread, as in LLaMA Pro."""
    if blocks > layers:
        raise ValueError(f"llama_pro_blocks={blocks} exceeds the model's {layers} decoder blocks")
    split = layers // blocks
    return [split * (group + 1) - 1 for group in range(blocks)]


def expand_checkpoint(source: Path, target: Path, blocks: int) -> Expansion:
    """Write the expanded checkpoint to ``target`` (fp32) and describe the expansion."""
    model = models.load(source, torch.float32)
    layers = decoder_layers(model)
    after = set(new_block_positions(len(layers), blocks))
    expanded: list[torch.nn.Module] = []
    new_layers: list[int] = []
    layer_types = getattr(model.config, "layer_types", None)
    new_types: list[str] = []
    for index, layer in enumerate(layers):
        expanded.append(layer)
        if layer_types:
            new_types.append(layer_types[index])
        if index in after:
            block = copy.deepcopy(layer)
            for name, module in block.named_modules():
                if name.rsplit(".", 1)[-1] in ZEROED:
                    for parameter in module.parameters():
                        torch.nn.init.zeros_(parameter)
            new_layers.append(len(expanded))
            expanded.append(block)
            if layer_types:
                new_types.append(layer_types[index])
    for position, layer in enumerate(expanded):
        attention = getattr(layer, "self_attn", None)
        if attention is not None and hasattr(attention, "layer_idx"):
            attention.layer_idx = position
    layers_owner(model).layers = torch.nn.ModuleList(expanded)
    model.config.num_hidden_layers = len(expanded)
    if layer_types:
        model.config.layer_types = new_types
    block_parameters = sum(p.numel() for p in expanded[new_layers[0]].parameters())
    target.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(target)
    expansion = Expansion(tuple(new_layers), block_parameters, len(layers))
    (target / "llama_pro.json").write_text(json.dumps(asdict(expansion)), encoding="utf-8")
    return expansion


def train_new_blocks(model: torch.nn.Module, expansion: Expansion) -> Adapted:
    """Freeze everything but the new blocks."""
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    layers = decoder_layers(model)
    for index in expansion.new_layers:
        for parameter in layers[index].parameters():
            parameter.requires_grad_(True)
    expected = expansion.block_parameters * len(expansion.new_layers)
    rule = f"{len(expansion.new_layers)} new blocks × {expansion.block_parameters} parameters"
    info = {"new_layers": list(expansion.new_layers), "original_layers": expansion.original_layers}
    return Adapted(model, "llama_pro", expected, rule, info)
