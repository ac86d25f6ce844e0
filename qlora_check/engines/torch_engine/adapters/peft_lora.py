"""peft LoRA and DoRA, over an unquantized or quantized base (peft picks its layer variant per quantized layer type)."""

from __future__ import annotations

from typing import Any

import torch

from qlora_check.engines.torch_engine.adapters.adapted import Adapted
from qlora_check.engines.torch_engine.adapters.targets import lora_parameter_count


def apply_peft(
    model: torch.nn.Module, values: dict[str, Any], targets: dict[str, torch.nn.Module], dora: bool
) -> Adapted:
    from peft import LoraConfig, get_peft_model

    rank = int(values["lora_rank"])
    expected = lora_parameter_count(targets, rank, dora)
    short_names = sorted({name.rsplit(".", 1)[-1] for name in targets})
    config = LoraConfig(
        r=rank,
        lora_alpha=values["lora_alpha"],
        lora_dropout=values["lora_dropout"],
        target_modules=short_names,
        use_dora=dora,
        task_type="CAUSAL_LM",
    )
    peft_model: torch.nn.Module = get_peft_model(model, config)
    import peft

    rule = f"r·(in+out){' + out' if dora else ''} over {len(targets)} modules"
    layer_types = sorted({type(module).__name__ for module in peft_model.modules() if hasattr(module, "lora_A")})
    return Adapted(peft_model, "peft", expected, rule, {"peft": peft.__version__, "lora_layer_types": layer_types})
