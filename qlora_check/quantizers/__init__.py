"""Quantizer families: one module each, found through a typed registry (plugins: `qlora_check.quantizers`)."""

from __future__ import annotations

from qlora_check.quantizers.interface import QuantizerError, QuantizerSpec
from qlora_check.registry import Registry

QUANTIZERS: Registry[QuantizerSpec] = Registry(
    "quantizer family",
    QuantizerSpec,
    {
        "bnb": "qlora_check.quantizers.bnb:SPEC",
        "hqq": "qlora_check.quantizers.hqq:SPEC",
        "quanto": "qlora_check.quantizers.quanto:SPEC",
        "mlx": "qlora_check.quantizers.mlx:SPEC",
    },
    group="qlora_check.quantizers",
)


def family_of(quantizer: str) -> QuantizerSpec | None:
    """The family whose axis values include ``quantizer``; None for ``none`` (and unknown values)."""
    for _, spec in QUANTIZERS.items():
        if quantizer in spec.values:
            return spec
    return None


def family_for_optimizer(optimizer: str) -> QuantizerSpec | None:
    """The family whose library provides the optimizer axis value ``optimizer`` (None: a plain torch one)."""
    for _, spec in QUANTIZERS.items():
        if optimizer in spec.optimizers:
            return spec
    return None


__all__ = ["QUANTIZERS", "QuantizerError", "QuantizerSpec", "family_for_optimizer", "family_of"]
