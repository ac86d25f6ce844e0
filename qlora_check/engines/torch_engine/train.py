"""The training loop: real forward, backward and optimizer steps, with losses and LRs recorded."""

from __future__ import annotations

import time
from typing import Any

import torch

from qlora_check.engines.interface import TrainRecord
from qlora_check.engines.torch_engine.precision import PrecisionPlan


def train(
    model: torch.nn.Module,
    batches: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    precision: PrecisionPlan,
    *,
    grad_accum: int,
    max_grad_norm: float,
    device: torch.device,
) -> TrainRecord:
    """Train on ``batches`` shaped (steps * grad_accum, batch, seq_len); one entry per optimizer step."""
    record = TrainRecord()
    parameters = [p for p in model.parameters() if p.requires_grad]
    scaler: Any = precision.scaler(device.type)
    model.train()
    started = time.perf_counter()
    steps = batches.shape[0] // grad_accum
    for step in range(steps):
        record.lrs.append(float(optimizer.param_groups[0]["lr"]))
        step_loss = 0.0
        for micro in range(grad_accum):
            input_ids = batches[step * grad_accum + micro].to(device)
            with precision.autocast(device.type):
                loss = model(input_ids=input_ids, labels=input_ids).loss / grad_accum
            (scaler.scale(loss) if scaler else loss).backward()
            step_loss += float(loss.detach().float())
            record.tokens += input_ids.numel()
        if scaler:
            scaler.unscale_(optimizer)
        if max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(parameters, max_grad_norm)
        if scaler:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        scheduler.step()
        record.losses.append(step_loss)
    _synchronise(device)
    record.train_s = time.perf_counter() - started
    return record


def _synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()
