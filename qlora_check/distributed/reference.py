"""The single-process reference of a multi-process cell: one process, the same per-rank split, gradients
averaged over the ranks' shares before each update, exactly as the ranks' all-reduce does.

On the CPU with a power-of-two world size this is bit-exact against DDP and FSDP2 (halving is exact and a
sum of two is commutative); `tolerance` says when it is not and what limit applies instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from qlora_check.engines.checks import tolerance_for


@dataclass
class Reference:
    losses: list[float] = field(default_factory=list)
    final_state: dict[str, torch.Tensor] = field(default_factory=dict)
    reloaded_eval_loss: float | None = None
    train_s: float = 0.0


def tolerance(values: dict[str, Any], world_size: int, device_kind: str) -> tuple[float, float, str]:
    """(atol, rtol, why): zero when the distributed arithmetic is the reference's, operation for operation."""
    reasons = []
    if device_kind != "cpu":
        reasons.append("accelerator kernels and collectives need not be bitwise reproducible")
    if world_size & (world_size - 1):
        reasons.append(f"world_size {world_size} is not a power of two (averaging rounds)")
    if int(values["grad_accum"]) > 1:
        reasons.append("gradient accumulation sums micro-batches in another order")
    if float(values["lora_dropout"]) > 0:
        reasons.append("dropout masks are drawn per rank")
    if str(values.get("distributed", "ddp")) in ("fsdp", "fsdp2") and float(values["max_grad_norm"]) > 0:
        # Measured: FSDP1 and FSDP2 differ from the reference by ~5e-7 with clipping, by 0 without.
        reasons.append("FSDP reduces the clipping norm over shards in another order (exact with max_grad_norm 0)")
    if not reasons:
        return 0.0, 0.0, "exact: the same operations in the same order"
    atol, rtol = tolerance_for(str(values["precision"]))
    return atol, rtol, "; ".join(reasons)


def train_reference(
    values: dict[str, Any], work_dir: Path, world_size: int, trained: Path | None, device_kind: str = "cpu"
) -> Reference:
    """Train the reference on rank 0's device (the ranks have ended, so the worker may touch CUDA now); when
    ``trained`` (the ranks' saved state) exists, also reload it into a fresh plain model and measure its eval
    loss (the `checkpoint` check's second half)."""
    import time

    from qlora_check.distributed.build import build, optimizer_for, rank_split
    from qlora_check.distributed.rendezvous import rank_device
    from qlora_check.distributed.wrap import clip_gradients

    device = torch.device(rank_device(device_kind, 0))
    torch.set_num_threads(1)  # the ranks' kernels: a GEMM's reduction order may depend on the thread count
    built = build(values, work_dir / "reference", device)
    model = built.adapted.model
    optimizer, scheduler, _ = optimizer_for(values, model, built.warmup)
    parameters = [p for p in model.parameters() if p.requires_grad]
    splits = [rank_split(built.inputs.batches, rank, world_size) for rank in range(world_size)]
    grad_accum = int(values["grad_accum"])
    reference = Reference()
    started = time.perf_counter()
    model.train()
    for step in range(built.inputs.batches.shape[0] // grad_accum):
        totals = [torch.zeros_like(p) for p in parameters]
        locals_ = [0.0] * world_size
        for micro in range(grad_accum):
            index = step * grad_accum + micro
            shares = [
                _share_gradients(model, parameters, split[index].to(device), built, grad_accum) for split in splits
            ]
            for rank, (loss, _) in enumerate(shares):
                locals_[rank] += loss
            for index, total in enumerate(totals):
                total += _sum(grad[index] for _, grad in shares) / world_size
        for parameter, total in zip(parameters, totals, strict=True):
            parameter.grad = total
        clip_gradients(model, "none", float(values["max_grad_norm"]))
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        scheduler.step()
        reference.losses.append(_sum(locals_) / world_size)
    reference.train_s = time.perf_counter() - started
    names = {id(p): name for name, p in model.named_parameters()}
    reference.final_state = {names[id(p)]: p.detach().cpu().clone() for p in parameters}
    if trained is not None and trained.exists():
        reference.reloaded_eval_loss = _reloaded_loss(values, work_dir, trained, built.inputs.eval_batch, device)
    return reference


def _share_gradients(
    model: torch.nn.Module, parameters: list[torch.nn.Parameter], batch: torch.Tensor, built: Any, grad_accum: int
) -> tuple[float, list[torch.Tensor]]:
    """One rank's share: its loss (as the rank records it) and the gradients it contributes."""
    for parameter in parameters:
        parameter.grad = None
    with built.plan.autocast(batch.device.type):
        loss = model(input_ids=batch, labels=batch).loss / grad_accum
    loss.backward()
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in parameters]
    for parameter in parameters:
        parameter.grad = None
    return float(loss.detach().float()), grads


def _sum(items: Any) -> Any:
    """Left-to-right sum in rank order (the order a two-rank all-reduce adds in)."""
    iterator = iter(items)
    total = next(iterator)
    for item in iterator:
        total = total + item
    return total


def _reloaded_loss(
    values: dict[str, Any], work_dir: Path, trained: Path, eval_batch: torch.Tensor, device: torch.device
) -> float:
    """The saved full state loaded into a freshly built plain model (no wrapper, one process)."""
    from safetensors.torch import load_file

    from qlora_check.distributed.build import build
    from qlora_check.engines.torch_engine import measure

    fresh = build(values, work_dir / "reload", device)
    state = load_file(str(trained), device=str(device))
    result = fresh.adapted.model.load_state_dict(state, strict=False)
    if result.unexpected_keys:
        raise KeyError(f"saved tensors the fresh model does not have: {result.unexpected_keys[:5]}")
    return measure.eval_loss(fresh.adapted.model, eval_batch, fresh.plan, device)
