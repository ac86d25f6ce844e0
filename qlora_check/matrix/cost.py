"""What a cell costs to run, roughly, in seconds of one CPU core: for choosing and ordering cells, never judging.

Two users. A pairwise strategy picks, among the cells that would cover the same new pairs, the cheaper one
(a covering array's rows are a choice: the pair "mlx-4bit with fp16" can come from a QLoRA cell or a QDoRA
cell, and on mlx[cpu] one of them costs ten times the other). The scheduler starts the longest cells first
when the previous run's durations are not known. A wrong factor costs wall time, never coverage or verdicts.

The factors were measured on a 2-core x86 VM from `qlora-check run core` (128 cells, 20 steps of 8 x 32
tokens; per-step times averaged per value): torch on the CPU computes half precision without fast kernels
(fp32 0.023 s/step, fp16 0.058, fp16 autocast 0.070, bf16 0.075, bf16 autocast 0.086); mlx[cpu] multiplies
by quantized weights in fp16 ~35x and in bf16 ~9x slower than in fp32 (`nn.QuantizedLinear` 64 -> 128 on
8 x 32 tokens: 90 / 22 / 2.5 ms), which makes an mlx-Nbit QLoRA step in fp16 1.6 s against 0.07 s in fp32,
while QDoRA (which multiplies by the dequantized weight) stays at 0.13 s.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from qlora_check.matrix.axes import AXES

FIXED_S = 0.4  # loading, quantizing, checkpoint and merge checks of a tiny cell
SECONDS_PER_TOKEN = 9e-5  # a tiny fp32 LoRA step on one core: 0.023 s for 256 tokens
CPU_PRECISION = {
    "fp32": 1.0,
    "fp16": 2.5,
    "fp16_autocast": 3.0,
    "bf16": 3.3,
    "bf16_autocast": 3.7,
    "bf16_buffers_autocast": 3.7,
}
TRAIN_TYPE = {"full": 1.5, "llama_pro": 1.5, "dora": 1.5, "qdora": 1.5}
# mlx[cpu] (Linux): quantized matmul in half precision, for the training types that multiply by the quantized
# weight (QDoRA multiplies by the dequantized one). On Apple silicon MLX computes on Metal: no such factor.
MLX_CPU_QUANTIZED_HALF = {"fp16": 20.0, "bf16": 4.0}


def relative_cost(values: Mapping[str, Any]) -> float:
    """Estimated seconds of one core for a cell with these axis values (missing axes take their defaults)."""

    def value(name: str) -> Any:
        return values[name] if name in values else AXES[name].default

    tokens = int(value("steps")) * int(value("grad_accum")) * int(value("batch_size")) * int(value("seq_len"))
    backend, precision, train_type = str(value("backend")), str(value("precision")), str(value("train_type"))
    factor = TRAIN_TYPE.get(train_type, 1.0)
    if value("gradient_checkpointing"):
        factor *= 1.3
    if backend == "cpu":
        factor *= CPU_PRECISION.get(precision, 1.0)
    elif backend == "mlx" and sys.platform != "darwin" and value("quantizer") != "none" and train_type != "qdora":
        factor *= MLX_CPU_QUANTIZED_HALF.get(precision, 1.0)
    return FIXED_S + tokens * SECONDS_PER_TOKEN * factor
