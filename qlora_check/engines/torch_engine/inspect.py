"""What a quantized model really stores: which modules are quantized and how many bytes their weights take."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch


def tensor_bytes(tensor: Any) -> int:
    """Bytes a tensor really stores; tensor subclasses (packed weights) are counted through their inner tensors."""
    if not isinstance(tensor, torch.Tensor):
        return 0
    flatten = getattr(type(tensor), "__tensor_flatten__", None)
    if flatten is not None and type(tensor) not in (torch.Tensor, torch.nn.Parameter):
        inner_names, _ = tensor.__tensor_flatten__()
        if inner_names:
            return sum(tensor_bytes(getattr(tensor, name)) for name in inner_names)
    return int(tensor.numel() * tensor.element_size())


def module_storage_bytes(module: torch.nn.Module) -> int:
    """Bytes of everything a module saves (weights, scales, zero points, quantization state)."""
    return sum(tensor_bytes(value) for value in module.state_dict().values())


def quantization_summary(
    model: torch.nn.Module, is_quantized: Callable[[torch.nn.Module], bool], unquantized_element_bytes: int
) -> dict[str, Any]:
    """Quantized module count and bytes, against the bytes the same weights take unquantized."""
    names: list[str] = []
    quantized_bytes = unquantized_bytes = 0
    for name, module in model.named_modules():
        if not is_quantized(module):
            continue
        names.append(name)
        quantized_bytes += module_storage_bytes(module)
        in_features, out_features = int(module.in_features), int(module.out_features)
        has_bias = getattr(module, "bias", None) is not None
        unquantized_bytes += (
            in_features * out_features + (out_features if has_bias else 0)
        ) * unquantized_element_bytes
    return {
        "modules": len(names),
        "quantized_bytes": quantized_bytes,
        "unquantized_bytes": unquantized_bytes,
        "module_names": names[:8] + ([f"... {len(names) - 8} more"] if len(names) > 8 else []),
    }
