"""Quantizers by family, found through a lazy registry so that only the library a cell uses is imported."""

from __future__ import annotations

from qlora_check.engines.torch_engine.quantizers.interface import Quantizer, QuantizeRequest
from qlora_check.registry import LazyRegistry

QUANTIZER_FAMILIES = LazyRegistry(
    "quantizer family",
    {
        "bnb": "qlora_check.engines.torch_engine.quantizers.bnb:BitsAndBytesQuantizer",
        "hqq": "qlora_check.engines.torch_engine.quantizers.hqq:HqqQuantizer",
        "quanto": "qlora_check.engines.torch_engine.quantizers.quanto:QuantoQuantizer",
    },
)


def family_of(quantizer: str) -> str:
    """``bnb-nf4`` -> ``bnb``."""
    return quantizer.split("-", 1)[0]


def load_quantizer(quantizer: str) -> Quantizer:
    """The quantizer for an axis value such as ``hqq-4bit``."""
    quantizer_class = QUANTIZER_FAMILIES.load(family_of(quantizer))
    instance: Quantizer = quantizer_class()
    return instance


__all__ = ["QUANTIZER_FAMILIES", "QuantizeRequest", "Quantizer", "family_of", "load_quantizer"]
