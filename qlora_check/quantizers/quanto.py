"""optimum-quanto: quantize the linear layers' weights, then freeze them to their quantized form."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from qlora_check.quantizers.interface import QuantizeRequest, QuantizerSpec, TorchQuantizer

if TYPE_CHECKING:
    import torch

SPEC = QuantizerSpec(
    family="quanto",
    title="optimum-quanto",
    values=("quanto-int2", "quanto-int4", "quanto-int8", "quanto-fp8"),
    aliases={"quanto": "quanto-int4"},
    import_name="optimum.quanto",
    pip_name="optimum-quanto",
    extra="quanto",
    engines={"torch": "qlora_check.quantizers.quanto:QuantoQuantizer"},
    train_types=("qlora", "custom_qlora", "qdora", "llama_pro"),
    probe_value="quanto-int4",
)
_WEIGHT_TYPES = {"int2": "qint2", "int4": "qint4", "int8": "qint8", "fp8": "qfloat8"}


class QuantoQuantizer(TorchQuantizer):
    family = "quanto"
    distribution = "optimum-quanto"

    def load(self, checkpoint: Path, request: QuantizeRequest) -> tuple[torch.nn.Module, dict[str, Any]]:
        from optimum import quanto

        from qlora_check.torch_models import load, without_layers

        weights = getattr(quanto, _WEIGHT_TYPES[request.bits])
        model = load(checkpoint, request.param_dtype).to(request.device)
        with without_layers(model, request.skip_layers):
            quanto.quantize(model, weights=weights, exclude="lm_head")
            quanto.freeze(model)
        settings = {"weights": str(weights), "exclude": ["lm_head"]}
        return model, {"path": "optimum.quanto.quantize + freeze", "settings": settings}

    def is_quantized(self, module: torch.nn.Module) -> bool:
        from optimum.quanto import QLinear

        return isinstance(module, QLinear)

    def dequantize(self, module: torch.nn.Module) -> torch.Tensor | None:
        weight: torch.Tensor = module.qweight.dequantize()  # type: ignore[operator,union-attr]
        return weight.detach()
