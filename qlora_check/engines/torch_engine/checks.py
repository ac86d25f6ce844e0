"""Checks only the torch engine can measure: identity at init, checkpoint round trip, gradient
accumulation, device transfer. Verdicts and tolerances come from `qlora_check.engines.checks`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from qlora_check.engines.checks import closeness_check, tolerance_for
from qlora_check.engines.torch_engine import measure, models
from qlora_check.engines.torch_engine.adapters import Adapted
from qlora_check.engines.torch_engine.precision import PrecisionPlan
from qlora_check.results.models import CheckResult

TRAINABLE_FILE = "trainable.safetensors"


def identity_init_check(
    reference: torch.Tensor, adapted_logits: torch.Tensor, precision: str, what: str
) -> CheckResult:
    """Before training, the adapted model computes the base model's logits."""
    atol, rtol = tolerance_for(precision)
    diff, scale = measure.difference(reference, adapted_logits)
    return closeness_check("identity_init", diff, scale, atol, rtol, what)


def save_trained(adapted: Adapted, directory: Path) -> list[str]:
    """Save what was trained the way a user would; returns the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    if adapted.kind in ("peft", "full"):
        adapted.model.save_pretrained(directory)  # type: ignore[operator]
    else:
        from safetensors.torch import save_file

        tensors = {
            name: parameter.detach().cpu().contiguous()
            for name, parameter in adapted.model.named_parameters()
            if parameter.requires_grad
        }
        save_file(tensors, directory / TRAINABLE_FILE)
    return sorted(path.name for path in directory.iterdir())


def load_trained(
    adapted: Adapted,
    directory: Path,
    fresh_adapted: Callable[[], Adapted],
    fresh_base: Callable[[], torch.nn.Module],
    plan: PrecisionPlan,
    device: torch.device,
) -> torch.nn.Module:
    """Load the saved weights into a freshly built base, by the same route as they were saved."""
    if adapted.kind == "full":
        model = models.load(directory, plan.param_dtype).to(device)
        plan.apply(model)
        return model
    if adapted.kind == "peft":
        from peft import PeftModel

        loaded: torch.nn.Module = PeftModel.from_pretrained(fresh_base(), directory)
        plan.apply(loaded)
        return loaded
    from safetensors.torch import load_file

    fresh = fresh_adapted().model
    tensors = load_file(directory / TRAINABLE_FILE, device=str(device))
    result = fresh.load_state_dict(tensors, strict=False)
    if result.unexpected_keys:
        raise KeyError(f"saved tensors the fresh model does not have: {result.unexpected_keys[:5]}")
    return fresh


def checkpoint_check(trained_loss: float, reloaded_loss: float, precision: str, files: list[str]) -> CheckResult:
    atol, rtol = tolerance_for(precision)
    finite = math.isfinite(trained_loss) and math.isfinite(reloaded_loss)
    diff = abs(trained_loss - reloaded_loss) if finite else math.inf
    return closeness_check(
        "checkpoint",
        diff,
        abs(trained_loss),
        atol,
        rtol,
        "eval loss after save and reload",
        trained_loss=trained_loss,
        reloaded_loss=reloaded_loss,
        files=files,
    )


def grad_accum_check(
    model: torch.nn.Module,
    batch: torch.Tensor,
    accumulate: int,
    plan: PrecisionPlan,
    device: torch.device,
    precision: str,
) -> CheckResult:
    """Gradients of one batch of B equal those accumulated over k micro-batches of B/k (so the first update is
    the same for any optimizer)."""
    size = batch.shape[0]
    if accumulate < 2 or size % accumulate:
        figures: dict[str, Any] = {"batch_size": size, "accumulate": accumulate}
        return CheckResult(
            "grad_accum", False, f"batch {size} cannot be split into {accumulate} micro-batches", figures
        )
    whole = measure.accumulated_gradients(model, [batch], plan, device)
    split = measure.accumulated_gradients(model, list(batch.chunk(accumulate)), plan, device)
    diff, scale = measure.gradients_difference(whole, split)
    atol, rtol = tolerance_for(precision)
    return closeness_check(
        "grad_accum",
        diff,
        scale,
        atol,
        rtol,
        f"gradients of 1×{size} and {accumulate}×{size // accumulate}",
        accumulate=accumulate,
    )


def device_transfer_check(checkpoint: Path, batch: torch.Tensor, device: torch.device) -> CheckResult:
    """The unquantized base in fp32 computes the same logits on the device as on the cpu."""
    fp32 = PrecisionPlan("fp32", torch.float32)
    on_cpu = measure.logits(models.load(checkpoint, torch.float32), batch, fp32, torch.device("cpu"))
    on_device = measure.logits(models.load(checkpoint, torch.float32).to(device), batch, fp32, device)
    diff, scale = measure.difference(on_cpu, on_device)
    return closeness_check("device_transfer", diff, scale, 1e-4, 1e-3, f"fp32 logits on cpu and {device}")
