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
    # q/k RMSNorm per head; head_dim given explicitly as real Qwen3 configs do.
    "tiny-qwen3": {"model_type": "qwen3", **_TINY_COMMON, "num_key_value_heads": 2, "head_dim": 16},
    # Gemma 2: tied embeddings (scaled by sqrt(hidden)), attention and final logit soft-capping, alternating
    # sliding-window layers (window smaller than the sequence so the sliding path really masks).
    "tiny-gemma2": {
        "model_type": "gemma2",
        **_TINY_COMMON,
        "num_key_value_heads": 2,
        "head_dim": 16,
        "query_pre_attn_scalar": 16,
        "sliding_window": 16,
        "attn_logit_softcapping": 50.0,
        "final_logit_softcapping": 30.0,
        "tie_word_embeddings": True,
        "pad_token_id": 0,
        "bos_token_id": 1,
        "eos_token_id": 2,
    },
    # Gemma 3 text: q/k norms, local (sliding) and global layers with their own rope bases, tied embeddings.
    "tiny-gemma3": {
        "model_type": "gemma3_text",
        **_TINY_COMMON,
        "num_key_value_heads": 2,
        "head_dim": 16,
        "query_pre_attn_scalar": 16,
        "sliding_window": 16,
        "sliding_window_pattern": 2,
        "tie_word_embeddings": True,
        "pad_token_id": 0,
        "bos_token_id": 1,
        "eos_token_id": 2,
    },
    # Phi-3: fused qkv_proj and gate_up_proj (LoRA targets differ: lora_targets.py); token ids inside the vocab.
    "tiny-phi3": {
        "model_type": "phi3",
        **_TINY_COMMON,
        "pad_token_id": 0,
        "bos_token_id": 1,
        "eos_token_id": 2,
    },
}
