"""bitsandbytes nf4 / fp4 / int8 through transformers' BitsAndBytesConfig, as users load QLoRA bases."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from qlora_check.engines.torch_engine import models
from qlora_check.engines.torch_engine.quantizers.interface import Quantizer, QuantizeRequest

STORAGE_DTYPES = {"uint8": torch.uint8, "fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}


class BitsAndBytesQuantizer(Quantizer):
    family = "bnb"
    distribution = "bitsandbytes"

    def load(self, checkpoint: Path, request: QuantizeRequest) -> tuple[torch.nn.Module, dict[str, Any]]:
        from transformers import BitsAndBytesConfig

        # The output layer stays unquantized (transformers' default); llama_pro's new blocks too.
        skip = ["lm_head", *(f"model.layers.{index}" for index in request.skip_layers)]
        settings: dict[str, Any]
        if request.bits == "int8":
            config = BitsAndBytesConfig(load_in_8bit=True, llm_int8_skip_modules=skip)
            settings = {"load_in_8bit": True}
        else:
            config = BitsAndBytesConfig(
                load_in_4bit=True,
                bnb_4bit_quant_type=request.bits,
                bnb_4bit_compute_dtype=request.compute_dtype,
                bnb_4bit_use_double_quant=request.double_quant,
                bnb_4bit_quant_storage=STORAGE_DTYPES[request.quant_storage],
                llm_int8_skip_modules=skip,
            )
            settings = {
                "quant_type": request.bits,
                "compute_dtype": str(request.compute_dtype),
                "double_quant": request.double_quant,
                "quant_storage": request.quant_storage,
            }
        model = models.load(checkpoint, request.param_dtype, quantization_config=config, device_map=str(request.device))
        settings["blocksize"] = _first_blocksize(model)
        settings["skip_modules"] = skip
        return model, {"path": "transformers.BitsAndBytesConfig (from_pretrained)", "settings": settings}

    def is_quantized(self, module: torch.nn.Module) -> bool:
        import bitsandbytes as bnb

        return isinstance(module, (bnb.nn.Linear4bit, bnb.nn.Linear8bitLt))


def _first_blocksize(model: torch.nn.Module) -> int | None:
    for module in model.modules():
        state = getattr(getattr(module, "weight", None), "quant_state", None)
        if state is not None:
            return int(state.blocksize)
    return None
