"""Tiny models built from configs, written with save_pretrained and read back with from_pretrained.

Building, saving and reloading every time is deliberate: the real Hugging Face loading path runs in
every cell, as it would for a real checkpoint.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from transformers import AutoConfig, AutoModelForCausalLM, PreTrainedModel

from qlora_check.engines.tokenizer import BYTE_VOCAB_SIZE

# initializer_range 0.1 (not 0.02): with a frozen output layer a 0.02 init caps the logits and LoRA
# cannot show learning in a few dozen steps (measured; see shared FACTS.md).
_TINY_COMMON: dict[str, Any] = {
    "vocab_size": BYTE_VOCAB_SIZE,
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 4,
    "max_position_embeddings": 256,
    "initializer_range": 0.1,
    "tie_word_embeddings": False,
}
TINY_MODELS: dict[str, dict[str, Any]] = {
    "tiny-llama": {"model_type": "llama", **_TINY_COMMON},
    "tiny-mistral": {"model_type": "mistral", **_TINY_COMMON, "num_key_value_heads": 2, "sliding_window": None},
    "tiny-qwen2": {"model_type": "qwen2", **_TINY_COMMON, "num_key_value_heads": 2},
}


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


def load(checkpoint: Path | str, dtype: torch.dtype, **kwargs: Any) -> PreTrainedModel:
    """The model at ``checkpoint`` through the real loading path."""
    model: PreTrainedModel = AutoModelForCausalLM.from_pretrained(str(checkpoint), dtype=dtype, **kwargs)
    return model
