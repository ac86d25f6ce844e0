"""Which modules the `lora_targets` axis names: framework-free, shared by the torch and MLX engines."""

from __future__ import annotations

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
