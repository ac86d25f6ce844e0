"""The cost weights that steer pairwise choices and the start order: the measured slow paths weigh more."""

from __future__ import annotations

import sys

import pytest

from qlora_check.matrix.cost import relative_cost


def test_more_tokens_and_half_precision_on_the_cpu_cost_more() -> None:
    base = {"backend": "cpu", "train_type": "lora", "precision": "fp32", "steps": 12}
    assert relative_cost({**base, "steps": 24}) > relative_cost(base)
    assert relative_cost({**base, "precision": "bf16_autocast"}) > relative_cost({**base, "precision": "fp16"})
    assert relative_cost({**base, "precision": "fp16"}) > relative_cost(base)


@pytest.mark.skipif(sys.platform == "darwin", reason="on Apple silicon MLX computes on Metal")
def test_mlx_cpu_quantized_half_precision_weighs_what_was_measured() -> None:
    cell = {"backend": "mlx", "quantizer": "mlx-4bit", "precision": "fp16", "steps": 20}
    qlora, qdora = relative_cost({**cell, "train_type": "qlora"}), relative_cost({**cell, "train_type": "qdora"})
    assert qlora > 5 * qdora  # measured: 1.6 s against 0.13 s per step (matrix/cost.py)
    assert relative_cost({**cell, "train_type": "qlora", "precision": "fp32"}) < qdora
