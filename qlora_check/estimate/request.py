"""What to estimate: one training setup at real size, checked before anything heavy is imported."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from qlora_check.errors import QloraCheckError

QUANTIZED_TRAIN_TYPES = ("qlora", "qdora")
UNQUANTIZED_TRAIN_TYPES = ("full", "lora", "dora")
PRECISIONS = ("fp32", "fp16", "bf16")  # autocast variants are not measured yet (autocast does not run on meta)
OPTIMIZERS = ("adamw", "adam", "sgd")
BACKENDS = ("cpu", "cuda")
GIB = 1024**3
FIT_BUDGETS_GB = (16, 24, 40, 80)


class EstimateError(QloraCheckError):
    """An estimate asked for something it cannot measure (unknown model, unsupported combination)."""


@dataclass(frozen=True)
class EstimateRequest:
    """One setup: model, quantizer, train type, precision, optimizer, tokens, LoRA rank, checkpointing."""

    model: str
    quantizer: str = "none"
    train_type: str = "lora"
    precision: str = "bf16"
    optimizer: str = "adamw"
    seq_len: int = 2048
    batch: int = 1
    lora_r: int = 16
    grad_checkpointing: bool = False
    backend: str = "cpu"

    def check(self) -> None:
        """Refuse combinations that are invalid or not measurable, with one clear line."""
        if self.train_type not in QUANTIZED_TRAIN_TYPES + UNQUANTIZED_TRAIN_TYPES:
            known = ", ".join(QUANTIZED_TRAIN_TYPES + UNQUANTIZED_TRAIN_TYPES)
            raise EstimateError(f"train type {self.train_type!r} is not estimated", tip=f"estimated: {known}")
        if (self.train_type in QUANTIZED_TRAIN_TYPES) != (self.quantizer != "none"):
            raise EstimateError(
                f"train type {self.train_type!r} with quantizer {self.quantizer!r} is not a valid setup",
                tip="qlora/qdora need a quantizer (e.g. --quantizer bnb-nf4); full/lora/dora need --quantizer none",
            )
        choices: tuple[tuple[str, str, tuple[str, ...]], ...] = (
            ("precision", self.precision, PRECISIONS),
            ("optimizer", self.optimizer, OPTIMIZERS),
            ("backend", self.backend, BACKENDS),
        )
        for label, value, allowed in choices:
            if value not in allowed:
                raise EstimateError(f"{label} {value!r} is not estimated", tip=f"estimated: {', '.join(allowed)}")
        if self.quantized:
            _check_quantizer(self.quantizer)
        if min(self.seq_len, self.batch, self.lora_r) < 1:
            raise EstimateError("--seq-len, --batch and --lora-r must be positive")

    @property
    def quantized(self) -> bool:
        return self.quantizer != "none"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check_quantizer(value: str) -> None:
    from qlora_check.quantizers import QUANTIZERS, family_of

    spec = family_of(value)
    known = [v for _, family in QUANTIZERS.items() if "torch" in family.engines for v in family.values]
    if spec is None or "torch" not in spec.engines:
        raise EstimateError(f"quantizer {value!r} is not estimated", tip=f"estimated: none, {', '.join(known)}")
