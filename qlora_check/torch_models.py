"""Hugging Face causal LMs in torch: load one through the real loading path, find its decoder blocks, and
hide some of them for a while.

Below both the engines and the quantizer families (each family's torch implementation loads a checkpoint
its own way), so neither has to import the other. Import only where torch may be imported.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, PreTrainedModel


def load(checkpoint: Path | str, dtype: torch.dtype, **kwargs: Any) -> PreTrainedModel:
    """The model at ``checkpoint`` through the real loading path (``from_pretrained``)."""
    model: PreTrainedModel = AutoModelForCausalLM.from_pretrained(str(checkpoint), dtype=dtype, **kwargs)
    return model


def decoder_layers(model: torch.nn.Module) -> torch.nn.ModuleList:
    """The decoder block list (``model.model.layers`` in LLaMA-style models, also under a peft wrapper)."""
    for module in model.modules():
        layers = getattr(module, "layers", None)
        if isinstance(layers, torch.nn.ModuleList) and len(layers) > 0:
            return layers
    raise ValueError(f"{type(model).__name__} has no decoder block list (.layers)")


def layers_owner(model: torch.nn.Module) -> torch.nn.Module:
    layers = decoder_layers(model)
    for module in model.modules():
        if getattr(module, "layers", None) is layers:
            return module
    raise ValueError("decoder block list has no owner")  # unreachable: decoder_layers found one


@contextlib.contextmanager
def without_layers(model: torch.nn.Module, hidden: Sequence[int]) -> Iterator[torch.nn.Module]:
    """Run the block with the decoder blocks at ``hidden`` indices taken out of the model, then put them back.

    Used to quantize only the original blocks of a llama_pro model, and to compute the original model's
    function (the identity check) from the expanded one.
    """
    if not hidden:
        yield model
        return
    owner = layers_owner(model)
    full = owner.layers
    owner.layers = torch.nn.ModuleList(layer for index, layer in enumerate(full) if index not in set(hidden))
    config = getattr(model, "config", None)
    original_count = getattr(config, "num_hidden_layers", None)
    if config is not None and original_count is not None:
        config.num_hidden_layers = len(owner.layers)
    try:
        yield model
    finally:
        owner.layers = full
        if config is not None and original_count is not None:
            config.num_hidden_layers = original_count
