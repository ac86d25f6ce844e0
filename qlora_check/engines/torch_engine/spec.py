"""The torch engine's spec: cpu, cuda and mps cells through transformers and peft (no torch import here)."""

from __future__ import annotations

from qlora_check.engines.interface import EngineSpec, Requirement
from qlora_check.matrix.axes import PRECISIONS, TRAIN_TYPES

TORCH_HINT = "pip install torch (CUDA/ROCm builds: see https://pytorch.org/get-started/locally/)"

SPEC = EngineSpec(
    name="torch",
    title="torch",
    engine="qlora_check.engines.torch_engine.engine:TorchEngine",
    resources={"cpu": "cpu", "cuda": "cuda", "mps": "metal"},
    train_types=TRAIN_TYPES,
    precisions=PRECISIONS,
    optimizers=("adamw", "adam", "sgd", "adadelta"),
    requires=(
        Requirement("torch", "torch", TORCH_HINT),
        Requirement("transformers", "transformers", "pip install transformers"),
        Requirement("peft", "peft", "pip install peft"),
    ),
    preload=("torch", "transformers", "peft", "qlora_check.engines.torch_engine.engine"),
    probe="qlora_check.engines.torch_engine.probe:run_probe",
    libraries=("torch", "transformers", "peft", "accelerate", "safetensors"),
    fork_safe=True,
    warm_up=True,
    distributed=("ddp", "fsdp", "fsdp2"),
    distributed_backends=("cpu", "cuda"),  # gloo and NCCL; MPS has no collective backend
)
