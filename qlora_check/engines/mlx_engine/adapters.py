"""What trains: the whole model, or LoRA / DoRA adapters over a frozen (maybe quantized) base.

Adapters come from mlx-lm's tuner (``linear_to_lora_layers`` → ``LoRALinear`` / ``DoRALinear``), and are
saved and reloaded in mlx-lm's own adapter format (``adapter_config.json`` + ``adapters.safetensors``), so
``mlx_lm.tuner.utils.load_adapters`` — what users run — is what the checkpoint check exercises.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten

from qlora_check.engines.lora_targets import lora_targets

ADAPTER_LEAVES = {"lora": ("lora_a", "lora_b"), "dora": ("lora_a", "lora_b", "m")}


def fine_tune_type(train_type: str) -> str:
    """mlx-lm's name for what trains: ``full``, ``lora`` (also on a quantized base) or ``dora``."""
    return {"full": "full", "lora": "lora", "qlora": "lora", "dora": "dora", "qdora": "dora"}[train_type]


@dataclass(frozen=True)
class AdapterSetup:
    """How the model was prepared; written as mlx-lm's ``adapter_config.json``."""

    fine_tune_type: str
    num_layers: int
    lora_parameters: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "fine_tune_type": self.fine_tune_type,
            "num_layers": self.num_layers,
            "lora_parameters": self.lora_parameters,
        }


def apply_training_type(model: nn.Module, values: dict[str, Any]) -> AdapterSetup:
    """Freeze and wrap ``model`` in place for the cell's train_type."""
    kind = fine_tune_type(values["train_type"])
    num_layers = len(model.layers)
    if kind == "full":
        model.unfreeze()
        return AdapterSetup(kind, num_layers, {})
    from mlx_lm.tuner.utils import linear_to_lora_layers

    keys = _layer_keys(model, lora_targets(values["lora_targets"], getattr(model, "model_type", None)))
    parameters = {
        "rank": values["lora_rank"],
        "scale": values["lora_alpha"] / values["lora_rank"],  # peft's scaling, alpha / r
        "dropout": values["lora_dropout"],
        "keys": keys,
    }
    model.freeze()
    linear_to_lora_layers(model, num_layers, parameters, use_dora=kind == "dora")
    if values.get("adapter_dtype") == "param":
        from qlora_check.engines.mlx_engine.models import DTYPES

        cast_adapters(model, DTYPES[values["precision"]])
    mx.eval(model.parameters())
    return AdapterSetup(kind, num_layers, parameters)


def cast_adapters(model: nn.Module, dtype: mx.Dtype) -> None:
    """``adapter_dtype: param``: the adapter weights (mlx-lm creates them in fp32) in the parameter dtype."""
    from mlx.utils import tree_unflatten

    cast = [(name, value.astype(dtype)) for name, value in tree_flatten(model.trainable_parameters())]
    model.update(tree_unflatten(cast))


def _layer_keys(model: nn.Module, targets: list[str]) -> list[str]:
    """The per-block module paths (e.g. ``self_attn.q_proj``) whose last part is a target."""
    found = [path for path, _module in model.layers[0].named_modules() if path.rpartition(".")[2] in targets]
    missing = sorted(set(targets) - {path.rpartition(".")[2] for path in found})
    if missing:
        raise ValueError(f"lora_targets {', '.join(missing)} match no module in the model's blocks")
    return sorted(found)


def trainable_names(model: nn.Module) -> list[str]:
    return sorted(name for name, _ in tree_flatten(model.trainable_parameters()))


def save_adapter(model: nn.Module, setup: AdapterSetup, directory: Path) -> Path:
    """Write the trainable parameters and the config in mlx-lm's adapter format."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "adapter_config.json").write_text(json.dumps(setup.to_dict(), indent=2), encoding="utf-8")
    mx.save_safetensors(str(directory / "adapters.safetensors"), dict(tree_flatten(model.trainable_parameters())))
    return directory


def load_adapter(model: nn.Module, directory: Path) -> nn.Module:
    """Apply a saved adapter to a fresh base with mlx-lm's own loader."""
    from mlx_lm.tuner.utils import load_adapters

    loaded: nn.Module = load_adapters(model, str(directory))
    mx.eval(loaded.parameters())
    return loaded
