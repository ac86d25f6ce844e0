"""Measurements the checks need: logits, evaluation loss, hashes of frozen tensors, gradients."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from typing import Any

import torch

from qlora_check.engines.torch_engine.inspect import tensor_bytes
from qlora_check.engines.torch_engine.precision import PrecisionPlan


@contextlib.contextmanager
def measuring(model: torch.nn.Module) -> Iterator[None]:
    """Train mode with every dropout module switched off: deterministic, and never eval mode.

    Eval mode is avoided on purpose: a 4-bit layer can repack its weight in place the first time it runs in
    eval mode without grad (lossy; see `quantizers/bnb.py`). A check that ran the model in eval mode would
    change the frozen base it is checking (measured: logits moved by 0.03 after a save/reload round trip).
    """
    was_training = model.training
    model.train()
    dropouts = [module for module in model.modules() if isinstance(module, torch.nn.Dropout)]
    for module in dropouts:
        module.eval()
    try:
        yield
    finally:
        model.train(was_training)


def logits(model: torch.nn.Module, batch: torch.Tensor, plan: PrecisionPlan, device: torch.device) -> torch.Tensor:
    """fp32 logits without dropout, computed as the cell computes (autocast included)."""
    with measuring(model), torch.no_grad(), plan.autocast(device.type):
        output = model(input_ids=batch.to(device), use_cache=False).logits
    return output.float().cpu()


def eval_loss(model: torch.nn.Module, batch: torch.Tensor, plan: PrecisionPlan, device: torch.device) -> float:
    input_ids = batch.to(device)
    with measuring(model), torch.no_grad(), plan.autocast(device.type):
        loss = model(input_ids=input_ids, labels=input_ids, use_cache=False).loss
    return float(loss.float())


def difference(reference: torch.Tensor, other: torch.Tensor) -> tuple[float, float]:
    """(max |reference - other|, max |reference|): the figures `closeness_check` judges."""
    if reference.shape != other.shape:
        return float("inf"), float(reference.abs().max())
    return float((reference - other).abs().max()), float(reference.abs().max())


def _tensor_digest(value: Any) -> str:
    digest = hashlib.sha256()
    if isinstance(value, torch.Tensor):
        flatten = getattr(type(value), "__tensor_flatten__", None)
        if flatten is not None and type(value) not in (torch.Tensor, torch.nn.Parameter):
            inner, _ = value.__tensor_flatten__()
            for name in inner:
                digest.update(_tensor_digest(getattr(value, name)).encode())
            return digest.hexdigest()
        tensor = value.detach().cpu().contiguous()
        digest.update(str(tensor.dtype).encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    else:
        digest.update(repr(value).encode())
    return digest.hexdigest()


def frozen_hashes(model: torch.nn.Module) -> dict[str, str]:
    """Content hash of every saved tensor that is not a trainable parameter (quantized weights included)."""
    trainable = {name for name, parameter in model.named_parameters() if parameter.requires_grad}
    return {name: _tensor_digest(value) for name, value in model.state_dict().items() if name not in trainable}


def frozen_bytes(model: torch.nn.Module) -> int:
    trainable = {name for name, parameter in model.named_parameters() if parameter.requires_grad}
    return sum(tensor_bytes(value) for name, value in model.state_dict().items() if name not in trainable)


def accumulated_gradients(
    model: torch.nn.Module, micro_batches: list[torch.Tensor], plan: PrecisionPlan, device: torch.device
) -> list[torch.Tensor]:
    """Gradients of the mean loss, accumulated over ``micro_batches`` as the training loop does (eval mode)."""
    parameters = [p for p in model.parameters() if p.requires_grad]
    with measuring(model):  # no dropout: the two ways of batching must see the same function
        for parameter in parameters:
            parameter.grad = None
        for batch in micro_batches:
            input_ids = batch.to(device)
            with plan.autocast(device.type):
                loss = model(input_ids=input_ids, labels=input_ids, use_cache=False).loss / len(micro_batches)
            loss.backward()
        grads = [
            (p.grad.detach().float().cpu().clone() if p.grad is not None else torch.zeros(p.shape)) for p in parameters
        ]
        for parameter in parameters:
            parameter.grad = None
    return grads


def gradients_difference(reference: list[torch.Tensor], other: list[torch.Tensor]) -> tuple[float, float]:
    diffs = [difference(a, b) for a, b in zip(reference, other, strict=True)]
    return max((d for d, _ in diffs), default=0.0), max((s for _, s in diffs), default=0.0)
