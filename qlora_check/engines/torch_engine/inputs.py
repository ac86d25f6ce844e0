"""Everything a cell trains from: the checkpoint (expanded for llama_pro), the batches, the held-out batch."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from qlora_check.engines import data
from qlora_check.engines.tiny_models import TINY_MODELS
from qlora_check.engines.torch_engine import models

if TYPE_CHECKING:
    from qlora_check.engines.torch_engine.adapters.llama_pro import Expansion


@dataclass
class CellInputs:
    checkpoint: Path  # what the base is loaded from (the expanded checkpoint for llama_pro)
    unexpanded: Path  # the original checkpoint
    batches: torch.Tensor  # (steps * grad_accum, batch, seq_len)
    eval_batch: torch.Tensor  # (batch, seq_len), never trained on
    expansion: Expansion | None = None
    model_info: dict[str, Any] = field(default_factory=dict)
    dataset_info: dict[str, Any] = field(default_factory=dict)

    @property
    def skip_layers(self) -> tuple[int, ...]:
        """Decoder blocks the quantizer must leave alone."""
        return self.expansion.new_layers if self.expansion else ()


def prepare_inputs(values: dict[str, Any], work_dir: Path) -> CellInputs:
    model_name = str(values["model"])
    seed = int(values["seed"])
    checkpoint = models.materialise(model_name, seed, work_dir / "base")
    encode, tokenizer = _encoder(model_name, checkpoint, str(values["dataset"]))
    batch_size, seq_len = int(values["batch_size"]), int(values["seq_len"])
    micro_batches = int(values["steps"]) * int(values["grad_accum"])
    dataset = str(values["dataset"])
    batches = torch.from_numpy(data.load_batches(dataset, seed, micro_batches, batch_size, seq_len, encode))
    held_out = torch.from_numpy(data.eval_batch(dataset, seed, batch_size, seq_len, encode))
    inputs = CellInputs(
        checkpoint=checkpoint,
        unexpanded=checkpoint,
        batches=batches,
        eval_batch=held_out,
        model_info={"name": model_name, "builtin": model_name in TINY_MODELS, "checkpoint": str(checkpoint)},
        dataset_info={"name": dataset, "tokenizer": tokenizer, "tokens_per_step": batch_size * seq_len},
    )
    if values["train_type"] == "llama_pro":
        from qlora_check.engines.torch_engine.adapters.llama_pro import expand_checkpoint

        inputs.expansion = expand_checkpoint(checkpoint, work_dir / "expanded", int(values["llama_pro_blocks"]))
        inputs.checkpoint = work_dir / "expanded"
    return inputs


def _encoder(model_name: str, checkpoint: Path, dataset: str) -> tuple[data.Encoder | None, str]:
    """Byte-level for built-in models and synthetic data; the checkpoint's own tokenizer for text if it has one."""
    if model_name in TINY_MODELS or dataset == "synthetic":
        return None, "byte-level" if dataset != "synthetic" else "synthetic ids"
    if not (checkpoint / "tokenizer_config.json").exists() and not (checkpoint / "tokenizer.json").exists():
        return None, "byte-level (the checkpoint has no tokenizer)"
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(checkpoint))

    def encode(text: str) -> list[int]:
        ids: list[int] = tokenizer(text, add_special_tokens=False)["input_ids"]
        return ids

    return encode, f"{type(tokenizer).__name__} from the checkpoint"
