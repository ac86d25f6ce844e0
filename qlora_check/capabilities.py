"""Which cells can run: invalid by definition (n/a) or impossible on this host (skip).

The rules live here and only here; `plan`, `run` and `doctor` all ask this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from qlora_check.doctor import cache as doctor_cache
from qlora_check.doctor.backends import assess_backends
from qlora_check.doctor.models import PLAIN, family_of
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
    """What this host has, as far as it can be told without importing heavy libraries.

    ``backend_reasons`` says why each absent backend is absent (doctor's detection: cheap facts, refined
    by what torch and mlx reported when a cached doctor answer exists for this environment).
    ``probe_failures`` maps (backend, family) to the error of a cached doctor probe that failed there;
    nothing here runs a probe: `qlora-check doctor` does.
    """

    modules: dict[str, bool]
    cuda_devices: int
    mps: bool
    notes: dict[str, str] = field(default_factory=dict)
    backend_reasons: dict[str, str] = field(default_factory=dict)
    probe_failures: dict[tuple[str, str], str] = field(default_factory=dict)

    @classmethod
    def detect(cls, cache_dir: Path | None = None) -> HostCapabilities:
        modules = {
            name: module_available(name)
            for name in ("torch", "transformers", "peft", "bitsandbytes", "hqq", "optimum.quanto", "mlx", "mlx_lm")
        }
        gpus = nvidia_gpus()  # always, as doctor does: the cache key must not depend on torch being there
        fingerprint = doctor_cache.fingerprint_of(doctor_cache.environment(gpus))
        entry = doctor_cache.load(cache_dir or doctor_cache.cache_dir(), fingerprint)
        backends = assess_backends(modules, entry.devices if entry else None, gpus)
        notes = {"doctor_cache": f"doctor answer of {entry.devices_at or 'unknown time'}"} if entry else {}
        failures = {
            (result.backend, result.family): f"{result.reason} (doctor probe of {result.probed_at})"
            for result in (entry.probes.values() if entry else ())
            if result.is_verdict_against
        }
        cuda = backends["cuda"]
        return cls(
            modules=modules,
            cuda_devices=len(cuda.details.get("devices") or cuda.details.get("gpus") or []) if cuda.available else 0,
            mps=backends["mps"].available,
            notes=notes,
            backend_reasons={name: backend.reason for name, backend in backends.items() if not backend.available},
            probe_failures=failures,
        )

    def skip_reason(self, cell: Cell) -> str | None:
        """Why this host cannot run the cell, or None when it can."""
        backend = cell["backend"]
        engine_modules = ("mlx", "mlx_lm") if backend == "mlx" else ("torch", "transformers", "peft")
        for module in engine_modules:
            if not self.modules.get(module, False):
                return f"{module} is not installed (pip install {module.replace('_', '-')})"
        if backend in self.backend_reasons:
            return self.backend_reasons[backend]
        if backend == "cuda" and self.cuda_devices == 0:
            return "no CUDA device on this host (nvidia-smi lists none)"
        if backend == "mps" and not self.mps:
            return "no Apple Metal (MPS) device on this host"
        if cell["world_size"] > 1:
            return "world_size > 1 (multi-process FSDP cells) is not implemented by qlora-check's engines yet"
        for library in (QUANTIZER_LIBRARY.get(cell["quantizer"]), OPTIMIZER_LIBRARY.get(cell["optimizer"])):
            if library and not self.modules.get(library[0], False):
                return f"{library[1]} is not installed (pip install {library[1]})"
        probe_reason = self.probe_failure(backend, str(cell["quantizer"]))
        if probe_reason:
            return probe_reason
        model = str(cell["model"])
        if model.startswith(("/", "./", "../", "~")) and not Path(model).expanduser().exists():
            return f"model path {model} does not exist on this host"
        return None

    def probe_failure(self, backend: str, quantizer: str) -> str | None:
        """The cached doctor probe's error when ``backend`` (plain) or ``quantizer``'s family failed there."""
        plain = self.probe_failures.get((backend, PLAIN))
        if plain:
            return f"doctor: plain LoRA forward/backward fails on {backend}: {plain}"
        family = family_of(quantizer)
        failure = self.probe_failures.get((backend, family)) if family != PLAIN else None
        if failure:
            return f"doctor: the {family} probe fails on {backend}: {failure}"
        return None
