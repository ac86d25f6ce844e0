"""Tiny models built from configs, written with save_pretrained and read back with from_pretrained.

Building, saving and reloading every time is deliberate: the real Hugging Face loading path runs in
every cell, as it would for a real checkpoint.
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForCausalLM

from qlora_check.engines.tiny_models import TINY_MODELS
from qlora_check.torch_models import load

__all__ = ["load", "materialise"]


def materialise(model_name: str, seed: int, directory: Path) -> Path:
    """A checkpoint directory for ``model_name``: a tiny config saved fresh, or the user's own path."""
    if model_name not in TINY_MODELS:
        return Path(model_name).expanduser()
    settings = dict(TINY_MODELS[model_name])
    config = AutoConfig.for_model(settings.pop("model_type"), **settings)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    return directory
