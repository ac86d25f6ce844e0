"""The torch side of the quantizer families: the implementation an axis value names."""

from __future__ import annotations

from qlora_check.errors import UnknownNameError
from qlora_check.names import unknown_name_message
from qlora_check.quantizers import QUANTIZERS, family_of
from qlora_check.quantizers.interface import TorchQuantizer


def load_quantizer(quantizer: str) -> TorchQuantizer:
    """The torch implementation of the family an axis value (``<family>-<bits>``) belongs to."""
    spec = family_of(quantizer)
    if spec is None:
        known = [value for _, family in QUANTIZERS.items() for value in family.values]
        raise UnknownNameError(unknown_name_message("quantizer", quantizer, known))
    implementation: TorchQuantizer = spec.implementation("torch")
    return implementation
