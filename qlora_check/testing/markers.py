"""`requires_backend` / `requires_quantizer`: skip a test where this host cannot run what it needs.

They ask what `qlora-check plan` asks: the n/a rules of the engines and quantizers, then the host's
capabilities as doctor detects them (cheap facts plus cached probe verdicts; nothing imports torch, and
nothing here runs a probe: `qlora-check doctor` does). A question that cannot be answered becomes a skip
with the reason, never an error at collection.
"""

from __future__ import annotations

import functools
from typing import Any

from qlora_check.capabilities import HostCapabilities, not_applicable_reason
from qlora_check.doctor.host_view import detect_host_capabilities
from qlora_check.matrix.axes import QUANTIZED_TRAIN_TYPES
from qlora_check.matrix.cell import Cell
from qlora_check.testing.models import cell_values


@functools.lru_cache(maxsize=1)
def host_capabilities() -> HostCapabilities:
    """This host as doctor sees it, detected once per process."""
    return detect_host_capabilities()


def skip_reason(
    backend: str = "cpu", quantizer: str | None = None, train_type: str | None = None, **knobs: Any
) -> str | None:
    """Why this host cannot run a cell with these values (or why the combination is n/a); None if it can."""
    try:
        quantized = quantizer not in (None, "none")
        train_type = train_type or ("qlora" if quantized else "lora")
        cell = Cell.from_values(cell_values(backend, quantizer, train_type, "fp32", **knobs))
        reason = not_applicable_reason(cell)
        if reason:
            return f"n/a: {reason}"
        return host_capabilities().skip_reason(cell)
    except Exception as exc:  # a marker must skip, never break collection
        return f"cannot tell whether this host runs it: {exc}"


def requires_backend(backend: str) -> Any:
    """A ``pytest.mark.skipif`` that skips unless this host runs LoRA cells on ``backend``."""
    return _skipif(skip_reason(backend))


def requires_quantizer(quantizer: str, backend: str | None = None, train_type: str | None = None) -> Any:
    """A ``pytest.mark.skipif`` that skips unless ``quantizer`` (``bnb``, ``mlx-4bit`` …) works here.

    ``backend`` defaults to ``mlx`` for MLX quantizers and ``cpu`` otherwise.
    """
    if backend is None:
        backend = "mlx" if quantizer.lower().startswith("mlx") else "cpu"
    train_type = train_type if train_type in QUANTIZED_TRAIN_TYPES else None
    return _skipif(skip_reason(backend, quantizer, train_type))


def requires(backend: str = "cpu", quantizer: str | None = None, train_type: str | None = None, **knobs: Any) -> Any:
    """A ``pytest.mark.skipif`` for any cell values, e.g. ``requires(optimizer="adamw_8bit")``."""
    return _skipif(skip_reason(backend, quantizer, train_type, **knobs))


def _skipif(reason: str | None) -> Any:
    import pytest

    return pytest.mark.skipif(reason is not None, reason=reason or "runs on this host")
