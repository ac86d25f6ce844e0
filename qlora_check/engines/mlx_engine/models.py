"""Models for MLX cells: a tiny config written as a checkpoint directory, loaded through mlx-lm.

A tiny model is initialised in numpy the way transformers initialises it (Linear and Embedding weights
~ N(0, initializer_range), biases 0, norms 1), written as ``config.json`` + ``model.safetensors`` and read
back with ``mlx_lm.utils.load_model``: every cell runs mlx-lm's real loading path, as for a real checkpoint.
The weights are not the torch engine's (that would need torch); the ``parity`` check loads those.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import mlx.core as mx
import mlx.nn as nn
import numpy as np
from mlx.utils import tree_flatten

from qlora_check.engines.tiny_models import TINY_MODELS

# transformers' defaults for the keys mlx-lm requires and the tiny configs leave out.
_HF_DEFAULTS: dict[str, Any] = {"rms_norm_eps": 1e-6, "rope_theta": 10000.0}
DTYPES = {"fp32": mx.float32, "fp16": mx.float16, "bf16": mx.bfloat16}


def tiny_config(model_name: str, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The config.json content of a built-in tiny model (``overrides`` change its keys)."""
    return {**_HF_DEFAULTS, **TINY_MODELS[model_name], **(overrides or {})}


def materialise(
    model_name: str, seed: int, directory: Path, overrides: Mapping[str, Any] | None = None
) -> Path:
    """A checkpoint directory for ``model_name``: a tiny config initialised fresh, or the user's own path."""
    if model_name not in TINY_MODELS:
        return Path(model_name).expanduser()
    from mlx_lm.utils import _get_classes

    config = tiny_config(model_name, overrides)
    model_class, args_class = _get_classes(config)
    model = model_class(args_class.from_dict(config))
    weights = _hf_style_init(model, config["initializer_range"], seed)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    mx.save_safetensors(str(directory / "model.safetensors"), weights)
    return directory


def _hf_style_init(model: nn.Module, std: float, seed: int) -> dict[str, mx.array]:
    rng = np.random.default_rng(seed)
    kinds = {name: type(module) for name, module in model.named_modules()}
    weights: dict[str, mx.array] = {}
    for name, value in sorted(tree_flatten(model.parameters())):
        owner, _, leaf = name.rpartition(".")
        if leaf == "bias":
            data = np.zeros(value.shape, np.float32)
        elif issubclass(kinds.get(owner, nn.Module), (nn.Linear, nn.Embedding)):
            data = rng.normal(0.0, std, size=value.shape).astype(np.float32)
        else:  # norms
            data = np.ones(value.shape, np.float32)
        weights[name] = mx.array(data)
    return weights


def load(checkpoint: Path, precision: str) -> tuple[nn.Module, dict[str, Any]]:
    """The model at ``checkpoint`` through mlx-lm's loader, cast to the cell's precision."""
    from mlx_lm.utils import load_config, load_model

    model, config = load_model(checkpoint, model_config=_rope_overrides(load_config(checkpoint)))
    model.set_dtype(DTYPES[precision])
    mx.eval(model.parameters())
    return model, config


def _rope_overrides(config: dict[str, Any]) -> dict[str, Any]:
    """transformers 5 writes ``rope_parameters``; mlx-lm 0.32 reads only ``rope_theta`` / ``rope_scaling``
    and would silently fall back to theta 10000. Lift the values over so real checkpoints load right."""
    rope = config.get("rope_parameters")
    if not isinstance(rope, dict) or "rope_theta" in config:
        return {}
    overrides: dict[str, Any] = {}
    if "rope_theta" in rope:
        overrides["rope_theta"] = rope["rope_theta"]
    if rope.get("rope_type", "default") != "default":
        overrides["rope_scaling"] = {key: value for key, value in rope.items() if key != "rope_theta"}
    return overrides


def parameter_count(model: nn.Module) -> dict[str, int]:
    """Trainable and total parameter counts (a quantized weight counts its packed elements)."""
    trainable = sum(value.size for _, value in tree_flatten(model.trainable_parameters()))
    total = sum(value.size for _, value in tree_flatten(model.parameters()))
    return {"trainable": trainable, "total": total}
