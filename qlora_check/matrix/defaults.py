"""Defaults resolved per cell before it runs: `lr: auto`, and the record of every resolved default.

`lr: auto` is a per-optimizer, per-train-type peak learning rate chosen from a committed sweep
(benchmarks/lr_sweep.py, benchmarks/results/lr_sweep.json; docs/lr-auto.md): for each optimizer and family,
the grid value whose own drop and both neighbours' drops are the largest in the worse of the two engines
(a value in the middle of the range that learns, not at its edge, so a decaying schedule or a few steps
less still learn). A number given in the matrix is always used as is.

Every result records what its defaults resolved to (`engine.defaults`), so `compare` can tell a result that
changed because a default changed from a regression. `LEGACY_DEFAULTS` is what runs recorded before then.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

AUTO = "auto"
# What the defaults were before results recorded them: lr 3e-3 for every cell, adapters cast to the
# parameter dtype. A baseline without `engine.defaults` is read as having run with these.
LEGACY_DEFAULTS: dict[str, Any] = {"lr": 3e-3, "adapter_dtype": "param"}
PARAM_DTYPE = {"fp16": "fp16", "bf16": "bf16", "bf16_buffers_autocast": "bf16"}  # others keep fp32 parameters
WHOLE_WEIGHT_TYPES = ("full", "llama_pro")  # no adapter weights to keep in another dtype

# Families of train types that share a learning rate (the sweep measured full, lora, qlora and llama_pro; lora
# and qlora gave the same choice). llama_pro trains whole new blocks from an identity start and has its own
# (torch only: MLX has no LLaMA-Pro).
FAMILY_OF_TRAIN_TYPE = {
    "full": "full",
    "llama_pro": "llama_pro",
    "lora": "lora",
    "dora": "lora",
    "custom_lora": "lora",
    "qlora": "qlora",
    "qdora": "qlora",
    "custom_qlora": "qlora",
}
# 8-bit AdamW variants keep AdamW's update rule: AdamW's rate (not swept separately).
SWEPT_OPTIMIZER = {"adamw_8bit": "adamw", "paged_adamw_8bit": "adamw"}
# (optimizer, family) -> peak lr; derived from benchmarks/results/lr_sweep.json by `choose_lr` (a test
# recomputes it from the committed JSON).
AUTO_LR: dict[tuple[str, str], float] = {
    ("adamw", "full"): 3e-3,
    ("adamw", "lora"): 1e-2,
    ("adamw", "qlora"): 1e-2,
    ("adam", "full"): 3e-3,
    ("adam", "lora"): 1e-2,
    ("adam", "qlora"): 1e-2,
    ("sgd", "full"): 1.0,
    ("sgd", "lora"): 0.3,
    ("sgd", "qlora"): 0.3,
    ("adadelta", "full"): 3.0,
    ("adadelta", "lora"): 1.0,
    ("adadelta", "qlora"): 1.0,
    ("adamw", "llama_pro"): 1e-2,
    ("adam", "llama_pro"): 1e-2,
    ("sgd", "llama_pro"): 1.0,
    ("adadelta", "llama_pro"): 3.0,
}
SWEEP_FILE = "benchmarks/results/lr_sweep.json"


def auto_lr(optimizer: str, train_type: str) -> tuple[float, str]:
    """The calibrated peak lr for an optimizer and train type, and a sentence saying where it comes from."""
    swept = SWEPT_OPTIMIZER.get(optimizer, optimizer)
    family = FAMILY_OF_TRAIN_TYPE.get(train_type, "lora")
    value = AUTO_LR.get((swept, family))
    if value is None:
        return LEGACY_DEFAULTS["lr"], f"no calibrated lr for {optimizer}: the former fixed default"
    via = f" (as {swept})" if swept != optimizer else ""
    return value, f"calibrated for {swept}{via} x {family} training at 40 steps ({SWEEP_FILE})"


def resolve_defaults(values: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The values a cell runs with (``lr`` a number) and the record of its resolved defaults."""
    resolved = dict(values)
    record: dict[str, Any] = {}
    if values.get("lr") == AUTO:
        lr, why = auto_lr(str(values["optimizer"]), str(values["train_type"]))
        resolved["lr"] = lr
        record["lr"] = {"value": lr, "source": AUTO, "why": why}
    else:
        record["lr"] = {"value": float(values["lr"]), "source": "matrix", "why": "given in the matrix"}
    setting = str(values.get("adapter_dtype", "fp32"))
    record["adapter_dtype"] = {"value": setting, "effective": adapter_dtype_in_effect(values, setting)}
    return resolved, record


def adapter_dtype_in_effect(values: Mapping[str, Any], setting: str) -> str:
    """The dtype trainable adapter weights really have: fp32, or the parameter dtype under ``param``."""
    param_dtype = PARAM_DTYPE.get(str(values.get("precision")), "fp32")
    if values.get("train_type") in WHOLE_WEIGHT_TYPES or setting == "param":
        return param_dtype
    return "fp32"


def changed_defaults(
    values: Mapping[str, Any], before: Mapping[str, Any] | None, after: Mapping[str, Any] | None
) -> dict[str, tuple[Any, Any]]:
    """Defaults whose effect differs between two results of the cell with ``values`` (a missing record, as in
    runs made before defaults were recorded, means `LEGACY_DEFAULTS`)."""
    old, new = _in_effect(values, before), _in_effect(values, after)
    return {name: (old[name], new[name]) for name in old if old[name] != new[name]}


def _in_effect(values: Mapping[str, Any], record: Mapping[str, Any] | None) -> dict[str, Any]:
    if not record:
        given = values.get("lr")
        return {
            "lr": given if isinstance(given, (int, float)) else LEGACY_DEFAULTS["lr"],
            "adapter_dtype": adapter_dtype_in_effect(values, LEGACY_DEFAULTS["adapter_dtype"]),
        }
    lr = (record.get("lr") or {}).get("value", LEGACY_DEFAULTS["lr"])
    dtype = record.get("adapter_dtype") or {}
    effective = dtype.get("effective") or adapter_dtype_in_effect(values, dtype.get("value", "fp32"))
    return {"lr": lr, "adapter_dtype": effective}


def choose_lr(drops_by_lr: Mapping[float, list[float]]) -> float:
    """The sweep's rule: the lr whose worst drop over itself and its two grid neighbours (every engine) is
    largest; the grid's ends are never chosen (their outer neighbour was not measured)."""
    grid = sorted(drops_by_lr)
    best, best_score = grid[len(grid) // 2], float("-inf")
    for index in range(1, len(grid) - 1):
        score = min(min(drops_by_lr[grid[j]]) for j in (index - 1, index, index + 1))
        if score > best_score + 1e-9:
            best, best_score = grid[index], score
    return best
