"""The framework-free parts of `qlora_check.testing`: convergence, datasets, markers, host memory, imports."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qlora_check.capabilities import not_applicable_reason
from qlora_check.matrix.cell import Cell
from qlora_check.testing import (
    check_convergence,
    learnable_dataset,
    memory_tracker,
    requires_backend,
    requires_quantizer,
    skip_reason,
)
from qlora_check.testing.training import micro_batches
from tests.conftest import heavy_modules_imported_by


def test_importing_the_helpers_imports_no_heavy_library() -> None:
    assert heavy_modules_imported_by("import qlora_check.testing") == []


def test_convergence_is_truthy_only_for_a_falling_finite_curve() -> None:
    falling = check_convergence([5.0] * 4 + [2.0] * 4)
    assert falling and falling.relative_drop == pytest.approx(0.6) and falling.early_mean == 5.0
    flat = check_convergence([5.0, 5.1, 4.9, 5.0] * 2)
    assert not flat and "drop (needs 20%)" in flat.detail
    spike = check_convergence([5.0, 4.0, math.nan, 3.0, 2.0, 1.0, 1.0, 1.0])
    assert not spike and "not finite at step 2" in spike.detail
    assert not check_convergence([5.0, 1.0])  # too few steps to judge


def test_learnable_dataset_is_the_progression_in_every_format() -> None:
    ids = learnable_dataset(16, seq_len=12, seed=3)
    assert ids.shape == (16, 12) and ids.dtype == np.int64
    strides = (np.diff(ids - ord("a"), axis=1)) % 16
    assert all(len(set(row)) == 1 and row[0] in (1, 2, 3) for row in strides.tolist())
    texts = learnable_dataset(16, "text", seq_len=12, seed=3)
    assert [list(text.encode()) for text in texts] == ids.tolist()
    assert learnable_dataset(16, "records", seq_len=12, seed=3)[0] == {"text": texts[0]}
    with pytest.raises(ValueError, match="unknown format"):
        learnable_dataset(4, "parquet")


def test_micro_batches_cycle_through_the_rows_in_order() -> None:
    rows = np.arange(5 * 4).reshape(5, 4)
    batches = micro_batches(rows, count=3, batch_size=2)
    assert batches.shape == (3, 2, 4)
    assert batches[:, :, 0].tolist() == [[0, 4], [8, 12], [16, 0]]
    with pytest.raises(ValueError, match="token ids shaped"):
        micro_batches(np.arange(8), count=1, batch_size=1)


def test_skip_reasons_follow_the_plan_rules() -> None:
    assert skip_reason("cpu") is None
    mlx_on_cpu = Cell.from_values({"backend": "cpu", "quantizer": "mlx-4bit", "train_type": "qlora"})
    assert skip_reason("cpu", "mlx-4bit") == f"n/a: {not_applicable_reason(mlx_on_cpu)}"
    assert (skip_reason("mlx", "bnb") or "").startswith("n/a: bnb-nf4")
    assert "world_size" in (skip_reason("cpu", world_size=2) or "")


def test_markers_skip_with_the_reason_and_never_raise() -> None:
    marker = requires_quantizer("mlx-4bit", backend="cpu")
    assert marker.name == "skipif" and marker.args == (True,) and "MLX quantizer" in marker.kwargs["reason"]
    unknown = requires_backend("tpu")
    assert unknown.args == (True,) and "tpu" in unknown.kwargs["reason"]
    assert requires_backend("cpu").args == (False,)


def test_memory_tracker_sees_an_allocation_of_known_size() -> None:
    with memory_tracker("cpu") as stats:
        block = bytearray(64 * 2**20)
        block[:: 4096] = b"x" * len(block[:: 4096])  # touch every page
    assert stats.backend == "cpu" and stats.method in ("vmhwm", "sampler")
    assert stats.peak_rss_mb is not None and 60 <= stats.peak_rss_mb < 200
    assert stats.device_peak_mb is None and stats.peak_mb == stats.peak_rss_mb
    del block
