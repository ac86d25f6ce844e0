"""`CellValues`: a cell's axis values as typed attributes, so code reads ``values.steps`` (an int), never
``int(values["steps"])``. One field per axis of `matrix.axes` (a test keeps the two in step)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True)
class CellValues:
    backend: str
    quantizer: str
    train_type: str
    precision: str
    optimizer: str
    scheduler: str
    model: str
    dataset: str
    steps: int
    batch_size: int
    grad_accum: int
    seq_len: int
    lr: float | str  # a number, or 'auto' until the worker resolves it
    warmup: float
    weight_decay: float
    max_grad_norm: float
    seed: int
    lora_rank: int
    lora_alpha: float
    lora_dropout: float
    lora_targets: str
    group_size: int
    gradient_checkpointing: bool
    double_quant: bool
    quant_storage: str
    llama_pro_blocks: int
    grad_accum_check: bool
    world_size: int
    inject: str
    runner: str
    distributed: str
    sharding: str
    cpu_offload: bool
    inject_rank: int
    adapter_dtype: str

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> CellValues:
        """From a full, normalised value mapping (a `Cell`'s); unknown keys are an error."""
        return cls(**{name: values[name] for name in _FIELD_NAMES})

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


_FIELD_NAMES = tuple(f.name for f in fields(CellValues))  # read once: `fields()` per cell showed in planning
