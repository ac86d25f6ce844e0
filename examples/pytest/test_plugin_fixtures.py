"""The plugin's markers and fixtures in a user's test: `qlora_tiny_model` follows the markers, `qlora_memory`
measures a block, `qlora_tokenizer` is a real trained tokenizer."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import pytest

from qlora_check.testing import MemoryStats, check_convergence, learnable_dataset, model_info, train_steps

Tracker = Callable[..., AbstractContextManager[MemoryStats]]


@pytest.mark.qlora_quantizer("bnb-nf4")
def test_qlora_fixture_model_is_quantized_and_learns(qlora_tiny_model: Any, qlora_memory: Tracker) -> None:
    info = model_info(qlora_tiny_model)
    assert info.quantizer == "bnb-nf4" and info.train_type == "qlora" and info.quantized_modules == 14
    with qlora_memory() as memory:
        result = train_steps(qlora_tiny_model, learnable_dataset(32), steps=40)
    assert check_convergence(result.losses), check_convergence(result.losses).detail
    assert memory.backend == "cpu" and memory.peak_rss_mb is not None and memory.peak_rss_mb >= 0


@pytest.mark.qlora_backend("mlx")
@pytest.mark.parametrize("qlora_tiny_model", [{"arch": "qwen2", "lora_rank": 4}], indirect=True)
def test_fixture_model_follows_the_backend_marker(qlora_tiny_model: Any, qlora_memory: Tracker) -> None:
    info = model_info(qlora_tiny_model)
    assert (info.backend, info.arch, info.train_type) == ("mlx", "qwen2", "lora")
    with qlora_memory() as memory:
        train_steps(qlora_tiny_model, learnable_dataset(16), steps=4)
    assert memory.device_method == "mlx.core.get_peak_memory" and (memory.device_peak_mb or 0) > 0


@pytest.mark.qlora_backend("cuda")
def test_cuda_marker_runs_only_where_there_is_cuda(qlora_tiny_model: Any) -> None:
    assert next(qlora_tiny_model.parameters()).device.type == "cuda"


def test_tokenizer_fixture_round_trips(qlora_tokenizer: Any) -> None:
    text = "The tiny model learns adgjmpsv."
    ids = qlora_tokenizer(text)["input_ids"]
    assert qlora_tokenizer.decode(ids) == text
    assert len(ids) < len(text)  # trained merges, not one token per byte
