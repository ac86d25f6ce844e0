"""The MLX engine's spec: `backend: mlx` cells through mlx-lm, on Metal, CUDA or CPU (no mlx import here)."""

from __future__ import annotations

import sys

from qlora_check.engines.interface import EngineSpec, Requirement

MLX_HINT = "pip install 'qlora-check[mlx]' (macOS: mlx; Linux: mlx[cpu] or mlx[cuda])"

SPEC = EngineSpec(
    name="mlx",
    title="MLX",
    engine="qlora_check.engines.mlx_engine.engine:MlxEngine",
    # On a Mac MLX computes on the GPU through Metal, which runs one cell at a time.
    resources={"mlx": "metal" if sys.platform == "darwin" else "cpu"},
    train_types=("full", "lora", "qlora", "dora", "qdora"),
    precisions=("fp32", "fp16", "bf16"),
    optimizers=("adamw", "adam", "sgd", "adadelta"),
    requires=(Requirement("mlx", "mlx", MLX_HINT), Requirement("mlx_lm", "mlx-lm", MLX_HINT)),
    # mlx-lm imports transformers (and through it torch, when installed): nothing torch is added here.
    preload=("mlx.core", "mlx_lm", "qlora_check.engines.mlx_engine.engine"),
    probe="qlora_check.engines.mlx_engine.probe:run_probe",
    libraries=("mlx", "mlx-lm"),
    fork_safe=True,
    warm_up=False,  # MLX starts a thread on its first op, which would make the server unsafe to fork
)
