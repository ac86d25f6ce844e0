"""`train_steps`: a few real optimizer steps of the engines' own training loop, on a user's model.

A torch ``nn.Module`` trains through the torch engine's loop (optimizers, schedules, precision plans and
gradient accumulation as cells use them); an ``mlx.nn.Module`` through the MLX engine's. Whatever has
``requires_grad`` (torch) or is trainable (MLX) trains. Memory is measured around the optimizer's creation
and the loop with `memory_tracker`.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from qlora_check.engines.checks import expected_lrs, warmup_steps
from qlora_check.testing.memory import MemoryStats, memory_tracker
from qlora_check.testing.recorded import recording_warnings


@dataclass(frozen=True)
class TrainResult:
    """One loss and one learning rate per optimizer step, the block's memory, time and tokens."""

    losses: list[float]
    lrs: list[float]
    memory: MemoryStats
    train_s: float
    tokens: int
    framework: str
    optimizer: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()  # what the libraries warned during training


def framework_of(model: Any) -> str:
    """``torch`` or ``mlx``, by the model's class (without importing a framework the caller has not)."""
    if "torch" in sys.modules and isinstance(model, sys.modules["torch"].nn.Module):
        return "torch"
    if "mlx.nn" in sys.modules and isinstance(model, sys.modules["mlx.nn"].Module):
        return "mlx"
    raise TypeError(f"expected a torch or mlx model, got {type(model).__name__}")


def micro_batches(dataset: Any, count: int, batch_size: int) -> np.ndarray:
    """``count`` micro-batches of ``batch_size`` rows, cycling through the dataset's rows in order."""
    ids = np.asarray(dataset.tolist() if hasattr(dataset, "tolist") else dataset, dtype=np.int64)
    if ids.ndim != 2 or ids.shape[0] == 0 or ids.shape[1] < 2:
        raise ValueError(f"the dataset must be token ids shaped (sequences, length >= 2), not {ids.shape}")
    rows = np.arange(count * batch_size) % ids.shape[0]
    batches: np.ndarray = ids[rows].reshape(count, batch_size, ids.shape[1])
    return batches


def train_steps(
    model: Any,
    dataset: Any,
    *,
    optimizer: Any = "adamw",
    steps: int = 20,
    lr: float = 3e-3,
    scheduler: str = "constant",
    warmup: float = 0.0,
    batch_size: int = 8,
    grad_accum: int = 1,
    precision: str | None = None,
    weight_decay: float = 0.0,
    max_grad_norm: float = 1.0,
) -> TrainResult:
    """Train ``model`` for ``steps`` optimizer steps on ``dataset`` (token ids, see `learnable_dataset`).

    ``optimizer`` is an optimizer axis value (``adamw``, ``sgd``, ``adamw_8bit`` …) or a ready optimizer of the
    model's framework; ``scheduler`` and ``warmup`` as on the matrix axes. ``precision`` (torch: a precision
    axis value such as ``bf16_autocast``) defaults to the one `tiny_model` built the model with, else fp32.
    """
    if steps < 1 or grad_accum < 1 or batch_size < 1:
        raise ValueError("steps, grad_accum and batch_size must be at least 1")
    batches = micro_batches(dataset, steps * grad_accum, batch_size)
    settings = _Settings(optimizer, steps, lr, scheduler, warmup_steps(warmup, steps), grad_accum, weight_decay)
    with recording_warnings() as warned:
        if framework_of(model) == "torch":
            result = _train_torch(model, batches, settings, _precision(model, precision), max_grad_norm)
        else:
            result = _train_mlx(model, batches, settings, max_grad_norm)
    return replace(result, warnings=tuple(warned))


def expected_lr_schedule(scheduler: str, lr: float, steps: int, warmup: float = 0.0) -> list[float]:
    """The learning rate at each optimizer step by the closed form the cells check their schedules against."""
    return expected_lrs(scheduler, lr, steps, warmup_steps(warmup, steps))


def eval_loss(model: Any, tokens: Any) -> float:
    """The mean next-token loss of ``model`` on a batch of token ids (n, seq_len), dropout off, no update."""
    ids = np.asarray(tokens.tolist() if hasattr(tokens, "tolist") else tokens, dtype=np.int64)
    with recording_warnings():
        return _eval_loss(model, ids)


def _eval_loss(model: Any, ids: np.ndarray) -> float:
    if framework_of(model) == "torch":
        import torch

        from qlora_check.engines.torch_engine import measure
        from qlora_check.engines.torch_engine.precision import precision_plan

        device = _device_of(model)
        return measure.eval_loss(model, torch.from_numpy(ids), precision_plan(_precision(model, None)), device)
    import mlx.core as mx

    from qlora_check.engines.mlx_engine.train import eval_loss as mlx_eval_loss

    return mlx_eval_loss(model, mx.array(ids.astype(np.int32)))


@dataclass(frozen=True)
class _Settings:
    optimizer: Any
    steps: int
    lr: float
    scheduler: str
    warmup_steps: int
    grad_accum: int
    weight_decay: float


def _precision(model: Any, precision: str | None) -> str:
    if precision is not None:
        return precision
    from qlora_check.testing.models import model_info

    try:
        return model_info(model).precision
    except ValueError:
        return "fp32"


def _device_of(model: Any) -> Any:
    import torch

    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def _train_torch(
    model: Any, batches: np.ndarray, settings: _Settings, precision: str, max_grad_norm: float
) -> TrainResult:
    import torch

    from qlora_check.engines.torch_engine.optim import build_optimizer, build_scheduler
    from qlora_check.engines.torch_engine.precision import precision_plan
    from qlora_check.engines.torch_engine.train import train

    plan = precision_plan(precision)
    plan.apply(model)
    device = _device_of(model)
    tensors = torch.from_numpy(batches)
    with memory_tracker(device.type) as memory:
        if isinstance(settings.optimizer, str):
            trainable = [p for p in model.parameters() if p.requires_grad]
            optimizer, described, _after = build_optimizer(
                settings.optimizer, trainable, settings.lr, settings.weight_decay
            )
        else:
            optimizer, described = settings.optimizer, {"class": type(settings.optimizer).__name__}
        scheduler = build_scheduler(settings.scheduler, optimizer, settings.steps, settings.warmup_steps)
        record = train(
            model,
            tensors,
            optimizer,
            scheduler,
            plan,
            grad_accum=settings.grad_accum,
            max_grad_norm=max_grad_norm,
            device=device,
        )
    return TrainResult(record.losses, record.lrs, memory, record.train_s, record.tokens, "torch", described)


def _train_mlx(model: Any, batches: np.ndarray, settings: _Settings, max_grad_norm: float) -> TrainResult:
    import mlx.core as mx

    from qlora_check.engines.mlx_engine import optim
    from qlora_check.engines.mlx_engine.train import train

    tokens = mx.array(batches.astype(np.int32))
    with memory_tracker("mlx") as memory:
        if isinstance(settings.optimizer, str):
            schedule = optim.build_schedule(settings.scheduler, settings.lr, settings.steps, settings.warmup_steps)
            optimizer, described = optim.build_optimizer(settings.optimizer, schedule, settings.weight_decay)
            l2 = optim.gradient_weight_decay(settings.optimizer, settings.weight_decay)
        else:
            optimizer, described, l2 = settings.optimizer, {"class": type(settings.optimizer).__name__}, 0.0
        record = train(
            model, tokens, optimizer, grad_accum=settings.grad_accum, max_grad_norm=max_grad_norm, gradient_l2=l2
        )
    return TrainResult(record.losses, record.lrs, memory, record.train_s, record.tokens, "mlx", described)

