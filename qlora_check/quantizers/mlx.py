"""The ``mlx-*bit`` quantizers: ``mlx.nn.quantize`` (affine, per group) over the transformer blocks' Linears.

This module is also the MLX family's spec; mlx is imported inside the functions, so plan can read the spec.

``nn.quantize`` with its defaults also quantizes the token embedding and the output layer; the torch
quantizer families (as peft users run them) leave those in float. To compare like with
like, only the Linear layers inside ``model.layers`` are quantized; the embedding and ``lm_head`` stay in
the cell's float dtype. The result says exactly which modules were quantized, with bits and group size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from qlora_check.quantizers.interface import QuantizerSpec

if TYPE_CHECKING:
    import mlx.core as mx
    import mlx.nn as nn

BITS = {"mlx-2bit": 2, "mlx-3bit": 3, "mlx-4bit": 4, "mlx-6bit": 6, "mlx-8bit": 8}
MODE = "affine"
SPEC = QuantizerSpec(
    family="mlx",
    title="MLX",
    values=tuple(BITS),
    aliases={"mlx": "mlx-4bit"},
    import_name="mlx",
    pip_name="mlx",
    extra="mlx",
    engines={"mlx": "qlora_check.quantizers.mlx:MlxQuantizer"},
    train_types=("qlora", "qdora"),
    probe_value="mlx-4bit",
)


@dataclass
class QuantizationReport:
    """What was quantized, recorded in results and checked by the ``quantized`` check."""

    quantizer: str
    bits: int | None = None
    group_size: int | None = None
    mode: str | None = None
    modules: list[str] = field(default_factory=list)
    left_in_float: list[str] = field(default_factory=list)
    relative_error: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "quantizer": self.quantizer,
            "bits": self.bits,
            "group_size": self.group_size,
            "mode": self.mode,
            "quantized_modules": len(self.modules),
            "modules": self.modules,
            "left_in_float": self.left_in_float,
            "weight_relative_error": self.relative_error,
        }


class MlxQuantizer:
    """The family's MLX implementation, as `QuantizerSpec.implementation("mlx")` returns it."""

    family = "mlx"
    distribution = "mlx"

    def quantize(self, model: nn.Module, quantizer: str, group_size: int) -> QuantizationReport:
        return quantize(model, quantizer, group_size)

    def is_quantized(self, module: nn.Module) -> bool:
        import mlx.nn as nn

        return isinstance(module, nn.QuantizedLinear)


def block_linears(model: nn.Module) -> list[str]:
    """Paths of the float Linear layers inside the transformer blocks: the ones a quantizer targets."""
    import mlx.nn as nn

    return sorted(
        path
        for path, module in model.named_modules()
        if ".layers." in f".{path}" and isinstance(module, nn.Linear) and not isinstance(module, nn.QuantizedLinear)
    )


def quantize(model: nn.Module, quantizer: str, group_size: int) -> QuantizationReport:
    """Quantize the blocks' Linears in place; ``none`` quantizes nothing."""
    import mlx.core as mx
    import mlx.nn as nn

    if quantizer == "none":
        return QuantizationReport(quantizer, left_in_float=_float_linears(model))
    if quantizer not in BITS:
        raise ValueError(f"{quantizer} is not an MLX quantizer (known: {', '.join(BITS)})")
    targets = set(block_linears(model))
    _check_group_size(model, targets, group_size)
    originals = {path: module.weight for path, module in model.named_modules() if path in targets}
    nn.quantize(
        model,
        group_size=group_size,
        bits=BITS[quantizer],
        mode=MODE,
        class_predicate=lambda path, _module: path in targets,
    )
    mx.eval(model.parameters())
    quantized = sorted(path for path, module in model.named_modules() if isinstance(module, nn.QuantizedLinear))
    return QuantizationReport(
        quantizer,
        bits=BITS[quantizer],
        group_size=group_size,
        mode=MODE,
        modules=quantized,
        left_in_float=_float_linears(model),
        relative_error=_relative_error(model, originals),
    )


def _is_float_linear(module: nn.Module) -> bool:
    import mlx.nn as nn

    return isinstance(module, (nn.Linear, nn.Embedding)) and not isinstance(
        module, (nn.QuantizedLinear, nn.QuantizedEmbedding)
    )


def _float_linears(model: nn.Module) -> list[str]:
    return sorted(path for path, module in model.named_modules() if _is_float_linear(module))


def _check_group_size(model: nn.Module, targets: set[str], group_size: int) -> None:
    for path, module in model.named_modules():
        if path in targets and module.weight.shape[-1] % group_size:
            raise ValueError(
                f"group_size {group_size} does not divide the input width {module.weight.shape[-1]} of {path}; "
                "pick a group size that divides every Linear's input (the tiny models take 32 or 64)"
            )


def _relative_error(model: nn.Module, originals: dict[str, mx.array]) -> float:
    """‖W − dequant(Q(W))‖ / ‖W‖ over all quantized weights: how much the base moved."""
    import mlx.core as mx
    import mlx.nn as nn

    error = total = 0.0
    for path, module in model.named_modules():
        if path not in originals or not isinstance(module, nn.QuantizedLinear):
            continue
        restored = mx.dequantize(
            module.weight,
            module.scales,
            module.biases,
            group_size=module.group_size,
            bits=module.bits,
            mode=module.mode,
        )
        original = originals[path].astype(mx.float32)
        error += float(mx.sum(mx.square(restored.astype(mx.float32) - original)))
        total += float(mx.sum(mx.square(original)))
    return round((error / total) ** 0.5, 6) if total else 0.0
