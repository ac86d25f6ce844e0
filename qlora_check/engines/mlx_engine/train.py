"""The MLX training loop: real forward, backward and optimizer steps, with losses and LRs recorded."""

from __future__ import annotations

import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

from qlora_check.engines.interface import TrainRecord


def scalar(value: mx.array) -> float:
    """A 0-d array as a Python float (the stubs type ``item()`` as int | float | complex)."""
    result: float = value.item()  # type: ignore[assignment]
    return float(result)


def causal_lm_loss(model: nn.Module, tokens: mx.array) -> mx.array:
    """Mean next-token cross-entropy, logits upcast to fp32 (what transformers' loss does with labels=ids)."""
    logits = model(tokens[:, :-1]).astype(mx.float32)
    loss: mx.array = nn.losses.cross_entropy(logits, tokens[:, 1:], reduction="mean")
    return loss


def eval_loss(model: nn.Module, tokens: mx.array) -> float:
    """The loss on ``tokens`` without training (dropout off)."""
    was_training = model.training
    model.eval()
    loss = scalar(causal_lm_loss(model, tokens))
    model.train(was_training)
    return loss


def enable_gradient_checkpointing(model: nn.Module) -> None:
    """Recompute each block's activations in backward (mlx-lm's ``grad_checkpoint``).

    mlx-lm patches the block *class*, so this lasts for the process: fine in a cell's own worker.
    """
    from mlx_lm.tuner.trainer import grad_checkpoint

    grad_checkpoint(model.layers[0])


def train(
    model: nn.Module,
    batches: mx.array,
    optimizer: optim.Optimizer,
    *,
    grad_accum: int,
    max_grad_norm: float,
    gradient_l2: float = 0.0,
) -> TrainRecord:
    """Train on ``batches`` shaped (steps * grad_accum, batch, seq_len); one entry per optimizer step.

    The LR recorded for a step is the one the optimizer applied in it: MLX evaluates the schedule at the
    current step inside ``update`` and stores it, so it is read after the update.
    """
    record = TrainRecord()
    loss_and_grad = nn.value_and_grad(model, causal_lm_loss)
    model.train()
    started = time.perf_counter()
    steps = batches.shape[0] // grad_accum
    for step in range(steps):
        total_loss, grads = mx.array(0.0), None
        for micro in range(grad_accum):
            tokens = batches[step * grad_accum + micro]
            loss, micro_grads = loss_and_grad(model, tokens)
            total_loss = total_loss + loss / grad_accum
            grads = micro_grads if grads is None else tree_map(mx.add, grads, micro_grads)
            record.tokens += tokens.size
        if grad_accum > 1:
            grads = tree_map(lambda g: g / grad_accum, grads)
        if gradient_l2:
            grads = tree_map(lambda g, p: g + gradient_l2 * p, grads, model.trainable_parameters())
        if max_grad_norm > 0:
            grads, _norm = optim.clip_grad_norm(grads, max_grad_norm)
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state, total_loss)
        record.losses.append(scalar(total_loss))
        record.lrs.append(scalar(optimizer.learning_rate))
    record.train_s = time.perf_counter() - started
    return record
