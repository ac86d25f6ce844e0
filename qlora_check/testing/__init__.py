"""Public helpers for users' own tests: the real things qlora-check's cells are made of.

Importing this package imports no torch, transformers or mlx; each helper imports its framework when it
is called. The pytest plugin (``qlora_check.testing.plugin``) builds on these. See docs/testing.md.
"""

from __future__ import annotations

from qlora_check.testing.convergence import Convergence, check_convergence
from qlora_check.testing.data import learnable_dataset
from qlora_check.testing.markers import requires, requires_backend, requires_quantizer, skip_reason
from qlora_check.testing.memory import MemoryStats, memory_tracker
from qlora_check.testing.models import TinyModelInfo, model_info, tiny_model
from qlora_check.testing.tokenizer import tiny_tokenizer
from qlora_check.testing.training import TrainResult, eval_loss, expected_lr_schedule, train_steps

__all__ = [
    "Convergence",
    "MemoryStats",
    "TinyModelInfo",
    "TrainResult",
    "check_convergence",
    "eval_loss",
    "expected_lr_schedule",
    "learnable_dataset",
    "memory_tracker",
    "model_info",
    "requires",
    "requires_backend",
    "requires_quantizer",
    "skip_reason",
    "tiny_model",
    "tiny_tokenizer",
    "train_steps",
]
