"""Tiny models built from configs, written with save_pretrained and read back with from_pretrained.

Building, saving and reloading every time is deliberate: the real Hugging Face loading path runs in
every cell, as it would for a real checkpoint.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from transformers import AutoConfig, AutoModelForCausalLM

from qlora_check.engines.tiny_models import TINY_MODELS
from qlora_check.torch_models import load

__all__ = ["load", "materialise"]


def materialise(
    model_name: str, seed: int, directory: Path, overrides: Mapping[str, Any] | None = None
) -> Path:
    """A checkpoint directory for ``model_name``: a tiny config saved fresh, or the user's own path.

    ``overrides`` change config keys of a tiny model (``qlora_check.testing`` builds bigger ones for memory
    comparisons); the cells never pass any.
    """
    if model_name not in TINY_MODELS:
        return Path(model_name).expanduser()
    settings = {**TINY_MODELS[model_name], **(overrides or {})}
    config = AutoConfig.for_model(settings.pop("model_type"), **settings)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    return directory
