"""Which cells can run: invalid by definition (n/a) or impossible on this host (skip).

The rules live here and only here; `plan`, `run` and `doctor` all ask this module.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass, field
from pathlib import Path

from qlora_check.host import module_available, nvidia_gpus
from qlora_check.matrix.axes import (
    BNB_QUANTIZERS,
    HQQ_QUANTIZERS,
    MLX_QUANTIZERS,
    QUANTIZED_TRAIN_TYPES,
    QUANTO_QUANTIZERS,
    UNQUANTIZED_TRAIN_TYPES,
)
from qlora_check.matrix.cell import Cell

TORCH_BACKENDS = ("cpu", "cuda", "mps")
MLX_TRAIN_TYPES = ("full", "lora", "qlora", "dora", "qdora")
MLX_PRECISIONS = ("fp32", "fp16", "bf16")
MLX_OPTIMIZERS = ("adamw", "adam", "sgd", "adadelta")
QUANTIZER_LIBRARY = {
    **{name: ("bitsandbytes", "bitsandbytes") for name in BNB_QUANTIZERS},
    **{name: ("hqq", "hqq") for name in HQQ_QUANTIZERS},
    **{name: ("optimum.quanto", "optimum-quanto") for name in QUANTO_QUANTIZERS},
    **{name: ("mlx", "mlx") for name in MLX_QUANTIZERS},
}
OPTIMIZER_LIBRARY = {name: ("bitsandbytes", "bitsandbytes") for name in ("adamw_8bit", "paged_adamw_8bit")}


def engine_for(backend: str) -> str:
    """The engine that runs a backend's cells."""
    return "mlx" if backend == "mlx" else "torch"


def not_applicable_reason(cell: Cell) -> str | None:
    """Why a cell is invalid by definition, or None when it is a meaningful combination."""
    train_type, quantizer, backend = cell["train_type"], cell["quantizer"], cell["backend"]
    if train_type in QUANTIZED_TRAIN_TYPES and quantizer == "none":
        return f"{train_type} trains adapters on a quantized base, and quantizer is none"
    if train_type in UNQUANTIZED_TRAIN_TYPES and quantizer != "none":
        quantized = {"lora": "qlora", "custom_lora": "custom_qlora", "dora": "qdora"}.get(train_type)
        instead = f"; use {quantized}" if quantized else ""
        return f"{train_type} trains an unquantized base, and quantizer is {quantizer}{instead}"
    if backend == "mlx":
        if quantizer != "none" and quantizer not in MLX_QUANTIZERS:
            return f"{quantizer} is a torch quantizer; mlx cells use mlx-*bit quantizers"
        if train_type not in MLX_TRAIN_TYPES:
            return f"{train_type} is a torch-only training type (mlx: {', '.join(MLX_TRAIN_TYPES)})"
        if cell["precision"] not in MLX_PRECISIONS:
            return f"{cell['precision']} is torch autocast; mlx cells use {', '.join(MLX_PRECISIONS)}"
        if cell["optimizer"] not in MLX_OPTIMIZERS:
            return f"{cell['optimizer']} is a bitsandbytes (torch) optimizer"
    elif quantizer in MLX_QUANTIZERS:
        return f"{quantizer} is an MLX quantizer; torch backend {backend} cannot use it"
    return None


@dataclass(frozen=True)
class HostCapabilities:
    """What this host has, as far as it can be told without importing heavy libraries."""

    modules: dict[str, bool]
    cuda_devices: int
    mps: bool
    notes: dict[str, str] = field(default_factory=dict)

    @classmethod
    def detect(cls) -> HostCapabilities:
        modules = {
            name: module_available(name)
            for name in ("torch", "transformers", "peft", "bitsandbytes", "hqq", "optimum.quanto", "mlx", "mlx_lm")
        }
        apple_silicon = platform.system() == "Darwin" and platform.machine() == "arm64"
        cuda_devices = len(nvidia_gpus()) if modules["torch"] else 0
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        if visible is not None and cuda_devices:
            cuda_devices = min(cuda_devices, len([d for d in visible.split(",") if d.strip()]))
        return cls(modules=modules, cuda_devices=cuda_devices, mps=apple_silicon and modules["torch"])

    def skip_reason(self, cell: Cell) -> str | None:
        """Why this host cannot run the cell, or None when it can."""
        backend = cell["backend"]
        engine_modules = ("mlx", "mlx_lm") if backend == "mlx" else ("torch", "transformers", "peft")
        for module in engine_modules:
            if not self.modules.get(module, False):
                return f"{module} is not installed (pip install {module.replace('_', '-')})"
        if backend == "cuda" and self.cuda_devices == 0:
            return "no CUDA device on this host (nvidia-smi lists none)"
        if backend == "mps" and not self.mps:
            return "no Apple Metal (MPS) device on this host"
        if cell["world_size"] > 1:
            return "world_size > 1 (multi-process FSDP cells) is not implemented by qlora-check's engines yet"
        for library in (QUANTIZER_LIBRARY.get(cell["quantizer"]), OPTIMIZER_LIBRARY.get(cell["optimizer"])):
            if library and not self.modules.get(library[0], False):
                return f"{library[1]} is not installed (pip install {library[1]})"
        model = str(cell["model"])
        if model.startswith(("/", "./", "../", "~")) and not Path(model).expanduser().exists():
            return f"model path {model} does not exist on this host"
        return None
