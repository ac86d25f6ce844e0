"""Cross-framework parity: the same initial weights give the same loss in torch (transformers) and in MLX.

The torch engine's tiny model is built with the cell's seed and saved as a Hugging Face checkpoint; MLX
loads that very checkpoint through mlx-lm and computes the loss on the same tokens. This is the one place
an MLX cell imports torch on purpose; without torch (e.g. an MLX-only Mac) the check is skipped.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import mlx.core as mx
import numpy as np

from qlora_check.engines.mlx_engine import models
from qlora_check.engines.mlx_engine.checks import skipped
from qlora_check.engines.mlx_engine.train import eval_loss
from qlora_check.engines.tiny_models import TINY_MODELS
from qlora_check.results.models import CheckResult

PARITY_TOLERANCE = 1e-4  # relative; both sides compute in fp32


def unavailable_reason(model_name: str) -> str | None:
    """Why parity cannot run for this cell, or None."""
    if model_name not in TINY_MODELS:
        return "parity runs on the built-in tiny models (a real checkpoint would be loaded twice)"
    for module in ("torch", "transformers"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed, so there is no torch side to compare with"
    return None


def torch_reference(model_name: str, seed: int, tokens: np.ndarray, directory: Path) -> tuple[Path, float]:
    """The torch engine's initial checkpoint for ``model_name`` and ``seed``, and its fp32 loss on ``tokens``."""
    import torch

    from qlora_check.engines.torch_engine.models import load, materialise

    checkpoint = materialise(model_name, seed, directory)
    model = load(checkpoint, torch.float32)
    model.eval()
    with torch.no_grad():
        ids = torch.from_numpy(tokens.astype(np.int64))
        loss = float(model(input_ids=ids, labels=ids).loss)
    return checkpoint, loss


def mlx_loss(checkpoint: Path, tokens: np.ndarray) -> float:
    """The fp32 loss MLX computes for the checkpoint, through the cells' own loader and loss."""
    model, _config = models.load(checkpoint, "fp32")
    return eval_loss(model, mx.array(tokens.astype(np.int32)))


def parity_check(torch_loss: float, mlx_loss_value: float) -> CheckResult:
    """Torch and MLX agree on the initial loss within ``PARITY_TOLERANCE`` (relative)."""
    difference = abs(torch_loss - mlx_loss_value)
    tolerance = PARITY_TOLERANCE * max(1.0, abs(torch_loss))
    figures = {"torch_loss": torch_loss, "mlx_loss": mlx_loss_value, "abs_diff": difference, "tolerance": tolerance}
    if not (math.isfinite(difference) and difference <= tolerance):
        detail = f"initial loss: torch {torch_loss:.6f}, mlx {mlx_loss_value:.6f} (differ by {difference:.3g})"
        return CheckResult("parity", False, detail, figures)
    return CheckResult(
        "parity", True, f"initial loss {mlx_loss_value:.6f} in both (differ by {difference:.2g})", figures
    )


def run_parity(model_name: str, seed: int, tokens: np.ndarray, directory: Path) -> CheckResult:
    """The whole parity check for a cell, or a skipped check saying why it cannot run."""
    reason = unavailable_reason(model_name)
    if reason:
        return skipped("parity", reason)
    checkpoint, torch_loss = torch_reference(model_name, seed, tokens, directory)
    return parity_check(torch_loss, mlx_loss(checkpoint, tokens))
