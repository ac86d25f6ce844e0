"""optimum-quanto: quantize the linear layers' weights, then freeze them to their quantized form."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from qlora_check.engines.torch_engine import models
from qlora_check.engines.torch_engine.layers import without_layers
from qlora_check.engines.torch_engine.quantizers.interface import Quantizer, QuantizeRequest

_WEIGHT_TYPES = {"int2": "qint2", "int4": "qint4", "int8": "qint8", "fp8": "qfloat8"}


class QuantoQuantizer(Quantizer):
    family = "quanto"
    distribution = "optimum-quanto"

    def load(self, checkpoint: Path, request: QuantizeRequest) -> tuple[torch.nn.Module, dict[str, Any]]:
        from optimum import quanto

        weights = getattr(quanto, _WEIGHT_TYPES[request.bits])
        model = models.load(checkpoint, request.param_dtype).to(request.device)
        with without_layers(model, request.skip_layers):
            quanto.quantize(model, weights=weights, exclude="lm_head")
            quanto.freeze(model)
        settings = {"weights": str(weights), "exclude": ["lm_head"]}
        return model, {"path": "optimum.quanto.quantize + freeze", "settings": settings}

    def is_quantized(self, module: torch.nn.Module) -> bool:
        from optimum.quanto import QLinear

        return isinstance(module, QLinear)
