"""HQQ through the hqq library itself: transformers 5's HqqConfig path raises NotImplementedError."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from qlora_check.engines.torch_engine import models
from qlora_check.engines.torch_engine.layers import without_layers
from qlora_check.engines.torch_engine.quantizers.interface import Quantizer, QuantizeRequest


class HqqQuantizer(Quantizer):
    family = "hqq"
    distribution = "hqq"

    def load(self, checkpoint: Path, request: QuantizeRequest) -> tuple[torch.nn.Module, dict[str, Any]]:
        from hqq.core.quantize import BaseQuantizeConfig
        from hqq.models.hf.base import AutoHQQHFModel

        nbits = int(request.bits.removesuffix("bit"))
        model = models.load(checkpoint, request.param_dtype).to(request.device)
        config = BaseQuantizeConfig(nbits=nbits, group_size=request.group_size)
        with without_layers(model, request.skip_layers):
            AutoHQQHFModel.quantize_model(
                model, quant_config=config, compute_dtype=request.compute_dtype, device=str(request.device)
            )
        settings = {"nbits": nbits, "group_size": request.group_size, "compute_dtype": str(request.compute_dtype)}
        return model, {"path": "hqq.models.hf.base.AutoHQQHFModel.quantize_model", "settings": settings}

    def is_quantized(self, module: torch.nn.Module) -> bool:
        from hqq.core.quantize import HQQLinear

        return isinstance(module, HQQLinear)
