"""The axes a matrix may name: their kinds, allowed values, aliases and defaults.

This is the single vocabulary of qlora-check. Canonical names are listed in docs/matrix.md; upstream
fsdp_qlora names are accepted as aliases and normalised here, before expansion, so that two
spellings of one value always give the same cell id.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from qlora_check.names import unknown_name_message

AxisValue = str | int | float | bool


@dataclass(frozen=True)
class Axis:
    """One dimension of a matrix.

    ``choices`` is None for free-form axes (numbers, paths). ``kind`` is the Python type values are
    coerced to. ``aliases`` map alternative spellings to canonical choices (or, on a free-form axis, to
    canonical names). ``keywords`` are words a numeric axis also takes (``lr: auto``).
    """

    name: str
    kind: type
    default: AxisValue
    doc: str
    choices: tuple[str, ...] | None = None
    aliases: dict[str, str] = field(default_factory=dict)
    minimum: float | None = None
    keywords: tuple[str, ...] = ()

    def normalise(self, value: Any) -> AxisValue:
        """Coerce ``value`` to this axis' canonical form; raise ValueError with a clear message."""
        if self.kind is bool:
            if isinstance(value, bool):
                return value
            raise ValueError(f"{self.name} takes true or false, not {value!r}")
        if self.kind is int:
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{self.name} takes a whole number, not {value!r}")
            return self._bounded(value)
        if isinstance(value, str) and value.strip().lower() in self.keywords:
            return value.strip().lower()
        if self.kind is float:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"{self.name} takes a number, not {value!r}")
            return self._bounded(float(value))
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ValueError(f"{self.name} takes a name, not {value!r}")
        text = str(value).strip()
        if self.choices is None:
            if not text:
                raise ValueError(f"{self.name} must not be empty")
            return self.aliases.get(text.lower(), text)
        key = text.lower()
        canonical = self.aliases.get(key, key)
        if canonical not in self.choices:
            raise ValueError(unknown_name_message(f"{self.name} value", value, self.choices))
        return canonical

    def _bounded(self, value: int | float) -> int | float:
        if self.minimum is not None and value < self.minimum:
            raise ValueError(f"{self.name} must be at least {self.minimum:g}, not {value!r}")
        return value


BACKENDS = ("cpu", "cuda", "mps", "mlx")
QUANT_STORAGES = ("uint8", "fp16", "bf16", "fp32")  # 4-bit storage dtypes (packed weights)
UNQUANTIZED_TRAIN_TYPES = ("full", "lora", "custom_lora", "dora")
QUANTIZED_TRAIN_TYPES = ("qlora", "custom_qlora", "qdora")
TRAIN_TYPES = (*UNQUANTIZED_TRAIN_TYPES, *QUANTIZED_TRAIN_TYPES, "llama_pro")
PRECISIONS = ("fp32", "fp16", "bf16", "fp16_autocast", "bf16_autocast", "bf16_buffers_autocast")
PLAIN_OPTIMIZERS = ("adamw", "adam", "sgd", "adadelta")
SCHEDULERS = ("constant", "linear", "cosine", "cosine_with_restarts", "polynomial", "exponential")
DISTRIBUTED = ("none", "ddp", "fsdp", "fsdp2")
SHARDINGS = ("full", "shard_grad_op", "hybrid")  # FSDP's FULL_SHARD, SHARD_GRAD_OP, HYBRID_SHARD
ADAPTER_DTYPES = ("fp32", "param")
# Built-in tiny architectures: the short names are aliases of the ids' canonical `tiny-*` names, so cells of
# `tiny-llama` keep their ids (engines/tiny_models.py holds the configs).
TINY_ARCHITECTURES = ("llama", "mistral", "qwen2", "qwen3", "gemma2", "gemma3", "phi3")
MODEL_ALIASES = {name: f"tiny-{name}" for name in TINY_ARCHITECTURES}
INJECTIONS = ("none", "segfault", "abort", "oom", "hang", "raise", "exit", "sigkill", "crash_once")


def _family_vocabulary() -> tuple[tuple[str, ...], dict[str, str], tuple[str, ...]]:
    """Quantizer values, their aliases and the optimizers the families provide: from the specs (plugins too)."""
    from qlora_check.quantizers import QUANTIZERS

    values: list[str] = ["none"]
    aliases: dict[str, str] = {"no": "none", "null": "none"}
    optimizers: list[str] = list(PLAIN_OPTIMIZERS)
    for _, family in QUANTIZERS.items():
        values += [value for value in family.values if value not in values]
        aliases.update(family.aliases)
        optimizers += [name for name in family.optimizers if name not in optimizers]
    return tuple(values), aliases, tuple(optimizers)


QUANTIZERS, _QUANTIZER_ALIASES, OPTIMIZERS = _family_vocabulary()

_AXES = (
    Axis("backend", str, "cpu", "where the cell runs", BACKENDS, {"gpu": "cuda", "metal": "mps"}),
    Axis(
        "quantizer",
        str,
        "none",
        "how the frozen base weights are quantized",
        QUANTIZERS,
        _QUANTIZER_ALIASES,
    ),
    Axis(
        "train_type",
        str,
        "lora",
        "what is trained",
        TRAIN_TYPES,
        {"llama-pro": "llama_pro", "custom-lora": "custom_lora", "custom-qlora": "custom_qlora"},
    ),
    Axis(
        "precision",
        str,
        "fp32",
        "parameter and compute dtypes",
        PRECISIONS,
        {
            "float32": "fp32",
            "float16": "fp16",
            "bfloat16": "bf16",
            "mp_fp16_autocast": "fp16_autocast",
            "mp_bf16_autocast": "bf16_autocast",
            "mp_bf16_buffers_autocast": "bf16_buffers_autocast",
        },
    ),
    Axis(
        "optimizer",
        str,
        "adamw",
        "the optimizer",
        OPTIMIZERS,
        {
            "adamw_torch": "adamw",
            "adamw_bnb_8bit": "adamw_8bit",
            "adamw8bit": "adamw_8bit",
            "paged_adamw8bit": "paged_adamw_8bit",
        },
    ),
    Axis("scheduler", str, "constant", "the learning-rate schedule", SCHEDULERS, {"lr_scheduler": "constant"}),
    Axis(
        "model",
        str,
        "tiny-llama",
        "built-in tiny architecture (llama, mistral, qwen2, qwen3, gemma2, gemma3, phi3) or a local checkpoint path",
        aliases=MODEL_ALIASES,
    ),
    Axis("dataset", str, "synthetic", "synthetic, a shipped corpus name, or a local .txt/.jsonl path"),
    Axis("steps", int, 40, "optimizer steps", minimum=1),
    Axis("batch_size", int, 8, "sequences per micro-batch", minimum=1),
    Axis("grad_accum", int, 1, "micro-batches per optimizer step", minimum=1),
    Axis("seq_len", int, 32, "tokens per sequence", minimum=4),
    Axis(
        "lr",
        float,
        "auto",
        "peak learning rate; auto = calibrated per optimizer and train type (docs/lr-auto.md)",
        minimum=0,
        keywords=("auto",),
    ),
    Axis("warmup", float, 0.0, "warmup: a ratio of steps when below 1, else a number of steps", minimum=0),
    Axis("weight_decay", float, 0.0, "decoupled weight decay", minimum=0),
    Axis("max_grad_norm", float, 1.0, "gradient clipping norm (0 disables)", minimum=0),
    Axis("seed", int, 0, "seed for weights, data and dropout", minimum=0),
    Axis("lora_rank", int, 8, "LoRA rank r", minimum=1),
    Axis("lora_alpha", float, 16.0, "LoRA alpha (scaling = alpha / r)", minimum=0),
    Axis("lora_dropout", float, 0.0, "LoRA dropout probability", minimum=0),
    Axis("lora_targets", str, "all", "all (q,k,v,o,gate,up,down), attn, or a comma-separated list"),
    Axis("group_size", int, 64, "quantization group (block) size", minimum=1),
    Axis("gradient_checkpointing", bool, False, "recompute activations in backward"),
    Axis("double_quant", bool, True, "4-bit NF4/FP4: quantize the quantization constants too"),
    Axis("quant_storage", str, "uint8", "4-bit NF4/FP4: dtype that stores the packed weights", QUANT_STORAGES),
    Axis("llama_pro_blocks", int, 1, "llama_pro: decoder blocks inserted", minimum=1),
    Axis("grad_accum_check", bool, False, "also check that accumulation over k micro-batches equals one batch"),
    Axis("world_size", int, 1, "processes per cell (1 = single device)", minimum=1),
    Axis("inject", str, "none", "fault injection for testing the harness", INJECTIONS),
    Axis("runner", str, "builtin", "builtin (qlora-check's own loop) or a runner of the matrix' runners: section"),
    Axis(
        "distributed",
        str,
        "none",
        "how world_size ranks train one cell: none, ddp, fsdp (FSDP1), fsdp2 (fully_shard)",
        DISTRIBUTED,
        {"fsdp1": "fsdp", "fully_shard": "fsdp2", "no": "none"},
    ),
    Axis(
        "sharding",
        str,
        "full",
        "FSDP sharding: full, shard_grad_op (keep parameters after forward), hybrid",
        SHARDINGS,
        {"full_shard": "full", "hybrid_shard": "hybrid"},
    ),
    Axis("cpu_offload", bool, False, "FSDP: keep sharded parameters (and gradients) on the host"),
    Axis("inject_rank", int, -1, "the rank the inject fault applies to (-1: the highest)", minimum=-1),
    Axis(
        "adapter_dtype",
        str,
        "fp32",
        "dtype of trainable adapter weights: fp32 (peft's default) or param (cast to the parameter dtype)",
        ADAPTER_DTYPES,
    ),
)

AXES: dict[str, Axis] = {axis.name: axis for axis in _AXES}
# Axes added after cell ids were first pinned. A cell id leaves them out while they hold their default, so
# adding an axis never changes the id of a cell that does not use it (stored runs stay comparable).
ID_OPTIONAL_AT_DEFAULT = frozenset(
    {
        "double_quant",
        "quant_storage",
        "llama_pro_blocks",
        "grad_accum_check",
        "distributed",
        "sharding",
        "cpu_offload",
        "inject_rank",
        "runner",
        "adapter_dtype",
    }
)
# Defaults that changed from a fixed value to a keyword: a cell id writes the keyword as the old value, so cells
# keep their ids and `compare` sees the same cell with a changed default (results record the resolved value).
ID_LEGACY_VALUES: dict[str, tuple[AxisValue, AxisValue]] = {"lr": ("auto", 3e-3)}
CORE_AXES = ("backend", "quantizer", "train_type", "precision", "optimizer", "scheduler")
DEFAULTS: dict[str, AxisValue] = {axis.name: axis.default for axis in _AXES}


def axis_named(name: str) -> Axis:
    """The axis called ``name``; ValueError naming the known axes and the closest match otherwise."""
    try:
        return AXES[name]
    except KeyError:
        raise ValueError(unknown_name_message("axis", name, AXES)) from None


def normalise_values(values: dict[str, Any]) -> dict[str, AxisValue]:
    """Normalise every value of a partial cell (aliases, types)."""
    return {name: axis_named(name).normalise(value) for name, value in values.items()}
