"""`tiny_model`: the tiny models cells train, built, loaded and quantized by the engines' own code.

A torch backend gives a Hugging Face model (saved and read back with ``from_pretrained``, quantized by the
quantizer family's real load path); ``mlx`` gives an mlx-lm model (loaded with mlx-lm's loader, quantized
with ``mlx.nn.quantize``). Nothing here builds or quantizes a model itself: it only fills in the values a
cell would carry and calls the engine.
"""

from __future__ import annotations

import shutil
import tempfile
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qlora_check.capabilities import not_applicable_reason
from qlora_check.engines.tiny_models import TINY_MODELS
from qlora_check.matrix.axes import AxisValue, normalise_values
from qlora_check.matrix.cell import Cell
from qlora_check.testing.recorded import recording_warnings


@dataclass(frozen=True)
class TinyModelInfo:
    """What `tiny_model` built: the cell-style values it used and what the quantizer reported."""

    arch: str
    backend: str
    quantizer: str
    train_type: str | None
    precision: str
    checkpoint: Path
    quantization: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()  # what the libraries warned while building it

    @property
    def quantized_modules(self) -> int:
        """How many modules the quantizer left quantized (0 without a quantizer)."""
        count = self.quantization.get("modules", self.quantization.get("quantized_modules", 0))
        return count if isinstance(count, int) else len(count)

    @property
    def values(self) -> dict[str, AxisValue]:
        """The axis values a cell with this model would carry (defaults for the rest)."""
        return cell_values(self.backend, self.quantizer, self.train_type or "full", self.precision)


_INFO: dict[int, TinyModelInfo] = {}


def cell_values(backend: str, quantizer: str | None, train_type: str, precision: str, **knobs: Any) -> dict[str, Any]:
    """Normalised axis values (aliases resolved, defaults filled) for a model the way a cell describes it."""
    values = normalise_values(
        {
            "backend": backend,
            "quantizer": quantizer or "none",
            "train_type": train_type,
            "precision": precision,
            **knobs,
        }
    )
    return Cell.from_values(values).values


def tiny_model(
    arch: str = "llama",
    quantizer: str | None = None,
    backend: str = "cpu",
    *,
    train_type: str | None = None,
    precision: str = "fp32",
    adapter_dtype: str = "fp32",
    seed: int = 0,
    lora_rank: int = 8,
    group_size: int = 64,
    directory: Path | None = None,
    **config: Any,
) -> Any:
    """A real tiny model, really quantized when ``quantizer`` is given.

    ``arch`` is a built-in architecture (``llama``, ``mistral``, ``qwen2``) or a checkpoint path. ``config``
    overrides keys of the tiny config (``hidden_size=512``, ``vocab_size=len(tokenizer)`` …). ``train_type``
    (``lora``, ``qlora``, ``dora``, ``full`` …) prepares the model the way a cell of that type trains it, with
    adapters in fp32 (``adapter_dtype="fp32"``, peft's default) or the parameters' dtype (``"param"``);
    None leaves the base as loaded. The checkpoint is written to ``directory`` (a temporary directory that
    lives as long as the model when None). `model_info` tells what was built. Invalid combinations (a
    ``qlora`` without a quantizer, a torch quantizer on ``mlx``) raise ValueError with the reason.
    """
    name = f"tiny-{arch}" if f"tiny-{arch}" in TINY_MODELS else arch
    if name not in TINY_MODELS and not Path(arch).expanduser().exists():
        known = ", ".join(sorted(model.removeprefix("tiny-") for model in TINY_MODELS))
        raise ValueError(f"unknown arch {arch!r}: a built-in one ({known}) or an existing checkpoint directory")
    values = cell_values(
        backend,
        quantizer,
        train_type or ("qlora" if quantizer else "lora"),
        precision,
        model=name,
        adapter_dtype=adapter_dtype,
        seed=seed,
        lora_rank=lora_rank,
        group_size=group_size,
    )
    reason = not_applicable_reason(Cell.from_values(values))
    if reason:
        raise ValueError(f"tiny_model cannot build this: {reason}")
    if train_type is None:
        values["train_type"] = None
    owned = directory is None
    target = Path(tempfile.mkdtemp(prefix="qlora-check-tiny-")) if directory is None else directory
    build = _build_mlx if values["backend"] == "mlx" else _build_torch
    with recording_warnings() as warned:
        model, checkpoint, quantization = build(values, target / "base", config)
    if owned:
        weakref.finalize(model, shutil.rmtree, target, True)
    key = id(model)
    _INFO[key] = TinyModelInfo(
        arch=arch,
        backend=str(values["backend"]),
        quantizer=str(values["quantizer"]),
        train_type=train_type,
        precision=str(values["precision"]),
        checkpoint=checkpoint,
        quantization=quantization,
        warnings=tuple(warned),
    )
    weakref.finalize(model, _INFO.pop, key, None)
    return model


def model_info(model: Any) -> TinyModelInfo:
    """What `tiny_model` recorded about ``model``; ValueError for a model it did not build."""
    try:
        return _INFO[id(model)]
    except KeyError:
        raise ValueError("this model was not built by qlora_check.testing.tiny_model") from None


def _build_torch(
    values: dict[str, Any], directory: Path, config: dict[str, Any]
) -> tuple[Any, Path, dict[str, Any]]:
    import torch

    from qlora_check.engines.torch_engine import adapters, models
    from qlora_check.engines.torch_engine.base import load_base
    from qlora_check.engines.torch_engine.precision import precision_plan

    checkpoint = models.materialise(str(values["model"]), int(values["seed"]), directory, config)
    plan = precision_plan(str(values["precision"]), str(values["adapter_dtype"]))
    torch.manual_seed(int(values["seed"]))
    model, quantization = load_base(checkpoint, values, plan, torch.device(str(values["backend"])))
    if values["train_type"] is not None:
        model = adapters.apply_training_type(model, values).model
        plan.apply(model)
    return model, checkpoint, quantization


def _build_mlx(values: dict[str, Any], directory: Path, config: dict[str, Any]) -> tuple[Any, Path, dict[str, Any]]:
    import mlx.core as mx

    from qlora_check.engines.mlx_engine import adapters, models
    from qlora_check.quantizers.mlx import quantize

    mx.random.seed(int(values["seed"]))
    checkpoint = models.materialise(str(values["model"]), int(values["seed"]), directory, config)
    model, _config = models.load(checkpoint, str(values["precision"]))
    report = quantize(model, str(values["quantizer"]), int(values["group_size"]))
    if values["train_type"] is not None:
        adapters.apply_training_type(model, values)
    return model, checkpoint, report.to_dict()
