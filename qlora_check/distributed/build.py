"""The model and data of one rank (or of the single-process reference), built the way the torch engine
builds a cell: the same checkpoint, quantizer path, training type, precision plan, optimizer and schedule.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from qlora_check.engines import checks as shared
from qlora_check.engines.torch_engine import adapters
from qlora_check.engines.torch_engine.base import load_base
from qlora_check.engines.torch_engine.inputs import CellInputs, prepare_inputs
from qlora_check.engines.torch_engine.optim import build_optimizer, build_scheduler
from qlora_check.engines.torch_engine.precision import PrecisionPlan, precision_plan


@dataclass
class Built:
    inputs: CellInputs
    adapted: adapters.Adapted
    plan: PrecisionPlan
    quantization: dict[str, Any]
    warmup: int


def build(values: dict[str, Any], work_dir: Path, device: torch.device) -> Built:
    """Seeded exactly as the engine seeds a cell, so every rank and the reference start from one model.

    Each caller materialises the checkpoint in its own ``work_dir``: ranks never race on one directory, and
    the cell's worker runs no torch op before it forks the ranks.
    """
    torch.manual_seed(int(values["seed"]))
    plan = precision_plan(str(values["precision"]))
    inputs = prepare_inputs(values, work_dir)
    model, quantization = load_base(inputs.checkpoint, values, plan, device, inputs.skip_layers)
    adapted = adapters.apply_training_type(model, values, inputs.expansion)
    plan.apply(adapted.model)
    if values["gradient_checkpointing"]:
        adapted.model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})  # type: ignore[operator]
    warmup = shared.warmup_steps(float(values["warmup"]), int(values["steps"]))
    return Built(inputs, adapted, plan, quantization, warmup)


def optimizer_for(
    values: dict[str, Any], model: torch.nn.Module, warmup: int
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler, dict[str, Any]]:
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer, settings, _ = build_optimizer(
        str(values["optimizer"]), trainable, float(values["lr"]), float(values["weight_decay"])
    )
    scheduler = build_scheduler(str(values["scheduler"]), optimizer, int(values["steps"]), warmup)
    return optimizer, scheduler, settings


def rank_split(batches: torch.Tensor, rank: int, world_size: int) -> torch.Tensor:
    """This rank's share of every global batch: (micro-batches, batch / world_size, seq_len)."""
    size = batches.shape[1]
    if size % world_size:
        raise ValueError(f"batch_size {size} does not split evenly over world_size {world_size}")
    share = size // world_size
    return batches[:, rank * share : (rank + 1) * share]
