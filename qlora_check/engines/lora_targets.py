"""Which modules the `lora_targets` axis names: framework-free, shared by the torch and MLX engines."""

from __future__ import annotations

ALL_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
ATTENTION_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj")
# Architectures whose projections are fused (Phi-3: one qkv_proj, one gate_up_proj): the same knobs name them.
FUSED_ALL_TARGETS = ("qkv_proj", "o_proj", "gate_up_proj", "down_proj")
FUSED_ATTENTION_TARGETS = ("qkv_proj", "o_proj")
FUSED_MODEL_TYPES = frozenset({"phi3"})


def lora_targets(spec: str, model_type: str | None = None) -> list[str]:
    """``all``, ``attn``, or a comma-separated list of module names; ``all`` and ``attn`` follow the
    architecture's module names (``model_type`` from its config)."""
    fused = model_type in FUSED_MODEL_TYPES
    if spec == "all":
        return list(FUSED_ALL_TARGETS if fused else ALL_TARGETS)
    if spec == "attn":
        return list(FUSED_ATTENTION_TARGETS if fused else ATTENTION_TARGETS)
    targets = [name.strip() for name in spec.split(",") if name.strip()]
    if not targets:
        raise ValueError(f"lora_targets {spec!r} names no modules")
    return targets
