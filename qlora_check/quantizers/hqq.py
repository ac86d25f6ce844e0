"""HQQ through the hqq library itself (transformers 5's HqqConfig path raises NotImplementedError)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from qlora_check.quantizers.interface import QuantizeRequest, QuantizerSpec, TorchQuantizer

if TYPE_CHECKING:
    import torch

SPEC = QuantizerSpec(
    family="hqq",
    title="hqq",
    values=("hqq-2bit", "hqq-3bit", "hqq-4bit", "hqq-8bit"),
    aliases={"hqq": "hqq-4bit"},
    import_name="hqq",
    pip_name="hqq",
    extra="hqq",
    engines={"torch": "qlora_check.quantizers.hqq:HqqQuantizer"},
    train_types=("qlora", "custom_qlora", "qdora", "llama_pro"),
    probe_value="hqq-4bit",
)


class HqqQuantizer(TorchQuantizer):
    family = "hqq"
    distribution = "hqq"

    def load(self, checkpoint: Path, request: QuantizeRequest) -> tuple[torch.nn.Module, dict[str, Any]]:
        from hqq.core.quantize import BaseQuantizeConfig
        from hqq.models.hf.base import AutoHQQHFModel

        from qlora_check.torch_models import load, without_layers

        nbits = int(request.bits.removesuffix("bit"))
        model = load(checkpoint, request.param_dtype).to(request.device)
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

    def dequantize(self, module: torch.nn.Module) -> torch.Tensor | None:
        weight: torch.Tensor = module.dequantize()  # type: ignore[operator]
        return weight.detach()
