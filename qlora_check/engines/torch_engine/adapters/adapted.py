"""What a training type makes of a model: the model to train and the trainable count it implies."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass
class Adapted:
    """The model to train and what the training type implies about it."""

    model: torch.nn.Module
    kind: str  # full | peft | custom | llama_pro: how checkpoints are saved and loaded
    expected_trainable: int
    rule: str
    info: dict[str, Any] = field(default_factory=dict)
