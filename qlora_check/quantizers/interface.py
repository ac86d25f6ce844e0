"""The quantizer-family extension point: what a family is (`QuantizerSpec`) and what its torch side does.

One module per family (``quantizers/<family>.py``) holds its spec and its implementation per engine; the
rest of qlora-check (axes, n/a rules, doctor, fork-server preload, evidence, the CLI) asks the specs. A spec
module imports nothing heavy: the implementations import their library inside their methods.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qlora_check.errors import QloraCheckError

if TYPE_CHECKING:
    import torch


class QuantizerError(QloraCheckError):
    """A family was asked for something it does not provide (an engine it has no implementation for)."""


@dataclass(frozen=True)
class QuantizerSpec:
    """One quantizer family, as every part of qlora-check needs to know it.

    ``engines`` maps an engine name to the ``"module:attr"`` of the class implementing the family there;
    ``train_types`` are the training types that may run over its quantized base; ``optimizers`` are
    optimizer axis values the family's library provides (with ``optimizer_factory`` building them).
    """

    family: str
    title: str
    values: tuple[str, ...]
    import_name: str
    pip_name: str
    extra: str
    engines: Mapping[str, str]
    train_types: tuple[str, ...]
    probe_value: str
    aliases: Mapping[str, str] = field(default_factory=dict)
    backends: tuple[str, ...] | None = None
    optimizers: tuple[str, ...] = ()
    optimizer_factory: str | None = None

    @property
    def install_hint(self) -> str:
        return f"pip install 'qlora-check[{self.extra}]'"

    def implementation(self, engine: str) -> Any:
        """A fresh instance of the family's implementation for ``engine``."""
        try:
            target = self.engines[engine]
        except KeyError:
            known = ", ".join(self.engines) or "none"
            raise QuantizerError(
                f"{self.title} has no implementation for the {engine} engine (it has: {known})"
            ) from None
        return _load(target)()

    def optimizer_builder(self) -> Any:
        if self.optimizer_factory is None:
            raise QuantizerError(f"{self.title} provides no optimizers")
        return _load(self.optimizer_factory)


def _load(target: str) -> Any:
    module_name, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


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


class TorchQuantizer(ABC):
    """Loads a checkpoint quantized by one family, in torch."""

    family: str
    distribution: str  # the package whose version is recorded

    @abstractmethod
    def load(self, checkpoint: Path, request: QuantizeRequest) -> tuple[torch.nn.Module, dict[str, Any]]:
        """The model with its base linear layers quantized, and the path and settings used."""

    @abstractmethod
    def is_quantized(self, module: torch.nn.Module) -> bool:
        """Whether ``module`` is one of this family's quantized layers."""

    def dequantize(self, module: torch.nn.Module) -> torch.Tensor | None:
        """The weight one of this family's quantized layers multiplies by, in full precision: the base of the
        merge users ship (dequantize, then add the update). None where the family has no such path."""
        return None

    def version(self) -> str:
        from importlib.metadata import version

        return version(self.distribution)
