"""Built-in tiny model configs, framework-free so the torch and MLX engines build the same model."""

from __future__ import annotations

from typing import Any

from qlora_check.engines.tokenizer import BYTE_VOCAB_SIZE

# initializer_range 0.1 (not 0.02): with a frozen output layer a 0.02 init caps the logits and LoRA
# cannot show learning in a few dozen steps (measured: a 0.02 init kept the drop under 20% in 40 steps).
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
