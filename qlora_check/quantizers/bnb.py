"""bitsandbytes: nf4 / fp4 / int8 bases through transformers' BitsAndBytesConfig (as users load QLoRA
bases), and the library's 8-bit AdamW optimizers with the check that their 8-bit state really exists.

Found on this family: bitsandbytes 0.50's Linear4bit, on a CPU with AVX512-BF16, repacks its weight in place
the first time it runs in eval mode without grad, storing absmax in bf16 (lossy); the torch engine's
measurements therefore never use eval mode (`engines/torch_engine/measure.py`).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qlora_check.quantizers.interface import QuantizeRequest, QuantizerSpec, TorchQuantizer
from qlora_check.results.models import CheckResult

if TYPE_CHECKING:
    import torch

SPEC = QuantizerSpec(
    family="bnb",
    title="bitsandbytes",
    values=("bnb-nf4", "bnb-fp4", "bnb-int8"),
    aliases={"nf4": "bnb-nf4", "bnb": "bnb-nf4", "bnb_nf4": "bnb-nf4", "fp4": "bnb-fp4", "bnb_fp4": "bnb-fp4"}
    | {"int8": "bnb-int8", "bnb_int8": "bnb-int8"},
    import_name="bitsandbytes",
    pip_name="bitsandbytes",
    extra="bnb",
    engines={"torch": "qlora_check.quantizers.bnb:BitsAndBytesQuantizer"},
    train_types=("qlora", "custom_qlora", "qdora", "llama_pro"),
    probe_value="bnb-nf4",
    optimizers=("adamw_8bit", "paged_adamw_8bit"),
    optimizer_factory="qlora_check.quantizers.bnb:build_optimizer",
)
STORAGE_DTYPES = ("uint8", "fp16", "bf16", "fp32")
# bitsandbytes keeps tensors under min_8bit_size elements (default 4096) in 32-bit; tiny LoRA matrices
# would never reach the 8-bit path. The optimizer_8bit check proves the path ran.
MIN_8BIT_SIZE = 16


class BitsAndBytesQuantizer(TorchQuantizer):
    family = "bnb"
    distribution = "bitsandbytes"

    def load(self, checkpoint: Path, request: QuantizeRequest) -> tuple[torch.nn.Module, dict[str, Any]]:
        import torch
        from transformers import BitsAndBytesConfig

        from qlora_check.torch_models import load

        storage = {"uint8": torch.uint8, "fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}
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
                bnb_4bit_quant_storage=storage[request.quant_storage],
                llm_int8_skip_modules=skip,
            )
            settings = {
                "quant_type": request.bits,
                "compute_dtype": str(request.compute_dtype),
                "double_quant": request.double_quant,
                "quant_storage": request.quant_storage,
            }
        model = load(checkpoint, request.param_dtype, quantization_config=config, device_map=str(request.device))
        settings["blocksize"] = _first_blocksize(model)
        settings["skip_modules"] = skip
        return model, {"path": "transformers.BitsAndBytesConfig (from_pretrained)", "settings": settings}

    def is_quantized(self, module: torch.nn.Module) -> bool:
        import bitsandbytes as bnb

        return isinstance(module, (bnb.nn.Linear4bit, bnb.nn.Linear8bitLt))

    def dequantize(self, module: torch.nn.Module) -> torch.Tensor | None:
        from peft.utils.integrations import dequantize_module_weight

        return dequantize_module_weight(module).detach()  # peft's own (what its merge dequantizes with)


def _first_blocksize(model: torch.nn.Module) -> int | None:
    for module in model.modules():
        state = getattr(getattr(module, "weight", None), "quant_state", None)
        if state is not None:
            return int(state.blocksize)
    return None


def build_optimizer(
    name: str, parameters: Iterable[torch.nn.Parameter], lr: float, weight_decay: float
) -> tuple[torch.optim.Optimizer, dict[str, Any], Any]:
    """The 8-bit optimizer, the settings it was given beyond its defaults, and a check to run after training."""
    import bitsandbytes as bnb

    optimizer_class = bnb.optim.PagedAdamW8bit if name.startswith("paged") else bnb.optim.AdamW8bit
    optimizer = optimizer_class(list(parameters), lr=lr, weight_decay=weight_decay, min_8bit_size=MIN_8BIT_SIZE)
    return optimizer, {"min_8bit_size": MIN_8BIT_SIZE}, state_check


def optimizer_state_precision(optimizer: torch.optim.Optimizer) -> tuple[int, int]:
    """How many parameters have 8-bit (uint8) and how many 32-bit first-moment state, after a step."""
    import torch

    eight_bit = thirty_two_bit = 0
    for state in optimizer.state.values():
        first = state.get("state1")
        if isinstance(first, torch.Tensor):
            if first.dtype == torch.uint8:
                eight_bit += 1
            else:
                thirty_two_bit += 1
    return eight_bit, thirty_two_bit


def state_check(optimizer: torch.optim.Optimizer) -> CheckResult:
    """The `optimizer_8bit` check of a trained optimizer."""
    return optimizer_8bit_check(*optimizer_state_precision(optimizer))


def optimizer_8bit_check(eight_bit: int, thirty_two_bit: int) -> CheckResult:
    """An 8-bit optimizer really kept 8-bit state for some parameters (the library falls back below a size)."""
    figures = {"8bit_state_tensors": eight_bit, "32bit_state_tensors": thirty_two_bit}
    detail = f"{eight_bit} parameters with 8-bit state, {thirty_two_bit} with 32-bit state"
    return CheckResult("optimizer_8bit", eight_bit > 0, detail, figures)
