"""The quantizer interface: load a checkpoint with its frozen base weights quantized, and say what was done.

One module per library family (bitsandbytes, hqq, optimum-quanto). Each records which code path
quantized the weights, so a result never leaves the reader guessing whether anything was quantized.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch


class QuantizerError(RuntimeError):
    """A quantizer was asked for something it cannot do (the libraries raise their own errors otherwise)."""


@dataclass(frozen=True)
class QuantizeRequest:
    """What to quantize and how: the axis value, the dtypes the cell computes in, the family knobs."""

    quantizer: str
    param_dtype: torch.dtype
    compute_dtype: torch.dtype
    device: torch.device
    group_size: int = 64
    double_quant: bool = True
    quant_storage: str = "uint8"
    skip_layers: tuple[int, ...] = ()  # decoder blocks left unquantized (llama_pro's new blocks)

    @property
    def bits(self) -> str:
        """The part after the family: nf4, int8, 4bit, fp8 …"""
        return self.quantizer.split("-", 1)[1]


class Quantizer(ABC):
    """Loads a checkpoint quantized by one library family."""

    family: str
    distribution: str  # the package name whose version is recorded

    @abstractmethod
    def load(self, checkpoint: Path, request: QuantizeRequest) -> tuple[torch.nn.Module, dict[str, Any]]:
        """The model with its base linear layers quantized, and the path and settings used."""

    @abstractmethod
    def is_quantized(self, module: torch.nn.Module) -> bool:
        """Whether ``module`` is one of this family's quantized layers."""

    def version(self) -> str:
        from importlib.metadata import version

        return version(self.distribution)
