"""The method checked on a model small enough to train for real: a full model of the same architecture at
reduced width and depth, measured end to end on the CPU with real tensors, against its 1/2-layer estimate.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from qlora_check.estimate.configs import ModelConfig
from qlora_check.estimate.request import EstimateRequest

VALIDATION_HIDDEN = 1024
VALIDATION_LAYERS = 8
VALIDATION_VOCAB = 32000


def reduced_config(config: ModelConfig, hidden: int = VALIDATION_HIDDEN, layers: int = VALIDATION_LAYERS,
                   vocab: int = VALIDATION_VOCAB) -> ModelConfig:
    """The same architecture at ``hidden`` width and ``layers`` depth: head size, GQA ratio and the MLP's
    width ratio kept; the vocabulary capped (the real one makes the real run slow, not different)."""
    values = dict(config.values)
    heads = int(values["num_attention_heads"])
    head_dim = int(values.get("head_dim") or values["hidden_size"] // heads)
    new_heads = max(1, hidden // head_dim)
    kv_ratio = heads // int(values.get("num_key_value_heads") or heads)
    ratio = int(values["intermediate_size"]) / int(values["hidden_size"])
    values.update(
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=new_heads,
        num_key_value_heads=max(1, new_heads // kv_ratio),
        intermediate_size=round(hidden * ratio / 64) * 64,
        vocab_size=min(int(values["vocab_size"]), vocab),
    )
    if "head_dim" in values:
        values["head_dim"] = head_dim
    values.pop("rope_scaling", None)
    return ModelConfig(name=f"{config.name} (reduced: hidden {hidden}, {layers} layers)", values=values,
                       source=config.source)


def validate(request: EstimateRequest, config: ModelConfig, vocab: int = VALIDATION_VOCAB) -> dict[str, Any]:
    """Estimate and really measure the reduced model; both figures and their difference."""
    import torch

    from qlora_check.estimate.build import build
    from qlora_check.estimate.extrapolate import estimate, quiet_libraries
    from qlora_check.estimate.measure import measure

    request.check()
    small = reduced_config(config, vocab=vocab)
    started = time.perf_counter()
    estimated = estimate(request, small)
    estimate_seconds = time.perf_counter() - started
    started = time.perf_counter()
    torch.manual_seed(0)
    with quiet_libraries():
        built = build(small, small.layers, dataclasses.replace(request, backend="cpu"), torch.device("cpu"), {})
        measured = measure(built, request)
    measure_seconds = time.perf_counter() - started
    error = (estimated.peak_bytes - measured.peak) / measured.peak
    return {
        "schema_version": 1,
        "model": small.name,
        "config": {key: small.values[key] for key in ("hidden_size", "intermediate_size", "num_hidden_layers",
                                                         "num_attention_heads", "num_key_value_heads", "vocab_size")},
        "request": request.to_dict(),
        "estimated_peak_bytes": estimated.peak_bytes,
        "measured_peak_bytes": measured.peak,
        "relative_error": round(error, 4),
        "estimated_parts": {part.name: part.bytes for part in estimated.parts},
        "measured_parts": measured.to_dict(),
        "estimate_method": estimated.measured["method"] + " on meta, 1 and 2 layers, extrapolated",
        "measured_method": measured.method + " on real CPU tensors, full model, real compute",
        "seconds": {"estimate": round(estimate_seconds, 1), "measured": round(measure_seconds, 1)},
    }
