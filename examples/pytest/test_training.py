"""Training tests a LoRA/QLoRA codebase keeps, written with `qlora_check.testing`: real tiny models, real
quantizers, real optimizer steps, and figures asserted (loss drops, LR traces, equal losses)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qlora_check.testing import (
    check_convergence,
    expected_lr_schedule,
    learnable_dataset,
    model_info,
    requires,
    requires_backend,
    requires_quantizer,
    tiny_model,
    tiny_tokenizer,
    train_steps,
)

DATA = learnable_dataset(64)


def test_lora_training_convergence() -> None:
    model = tiny_model("llama", train_type="lora")
    result = train_steps(model, DATA, steps=40)
    convergence = check_convergence(result.losses, margin=0.2)
    assert convergence, convergence.detail
    assert len(result.losses) == 40 and result.tokens == 40 * 8 * 32
    assert convergence.late_mean is not None and convergence.late_mean < 0.6 * math.log(256)


def test_lora_training_convergence_on_tokenized_text() -> None:
    tokenizer = tiny_tokenizer()
    encoded = [tokenizer(text)["input_ids"] for text in learnable_dataset(64, format="text")]
    length = min(len(ids) for ids in encoded)
    assert 24 <= length < 32, f"32 letters became {length} tokens"
    ids = np.array([row[:length] for row in encoded])
    assert ids.max() < len(tokenizer) == 320
    model = tiny_model("llama", train_type="lora", vocab_size=len(tokenizer))
    convergence = check_convergence(train_steps(model, ids, steps=40).losses)
    assert convergence, convergence.detail


# quanto-int8, not int4: int4 unpacks through a C++ extension quanto compiles on first use (minutes on a small
# CPU); int8 trains through the same QLinear without it.
QUANTIZERS = ("bnb-nf4", "hqq-4bit", "quanto-int8", "mlx-4bit")


@pytest.mark.parametrize("quantizer", [pytest.param(q, marks=requires_quantizer(q)) for q in QUANTIZERS])
def test_qlora_training_with_quantization(quantizer: str) -> None:
    backend = "mlx" if quantizer.startswith("mlx") else "cpu"
    model = tiny_model("llama", quantizer=quantizer, backend=backend, train_type="qlora")
    info = model_info(model)
    assert info.quantized_modules == 2 * 7, info.quantization  # q, k, v, o, gate, up, down in 2 blocks
    if backend == "cpu":
        assert info.quantization["quantized_bytes"] < 0.5 * info.quantization["unquantized_bytes"]
    else:
        assert info.quantization["bits"] == 4 and 0 < info.quantization["weight_relative_error"] < 0.2
    convergence = check_convergence(train_steps(model, DATA, steps=40).losses)
    assert convergence, convergence.detail


def test_gradient_accumulation() -> None:
    """4 micro-batches of 2 accumulated give the losses of one batch of 8 (same rows, same init)."""
    whole = train_steps(tiny_model(train_type="lora"), DATA, steps=6, batch_size=8, grad_accum=1)
    accumulated = train_steps(tiny_model(train_type="lora"), DATA, steps=6, batch_size=2, grad_accum=4)
    difference = max(abs(a - b) for a, b in zip(whole.losses, accumulated.losses, strict=True))
    assert difference < 1e-4 * max(whole.losses), (whole.losses, accumulated.losses)
    assert whole.tokens == accumulated.tokens == 6 * 8 * 32


# Adapters stay in fp32 over a bf16 base unless asked to take the parameters' dtype (adapter_dtype: param).
PRECISIONS = [
    ("fp32", "fp32", "torch.float32"),
    ("bf16", "fp32", "torch.float32"),
    ("bf16", "param", "torch.bfloat16"),
    ("bf16_autocast", "fp32", "torch.float32"),
]


@pytest.mark.parametrize(("precision", "adapter_dtype", "expected"), PRECISIONS)
def test_mixed_precision_training(precision: str, adapter_dtype: str, expected: str) -> None:
    model = tiny_model(train_type="lora", precision=precision, adapter_dtype=adapter_dtype)
    trainable = {str(p.dtype) for p in model.parameters() if p.requires_grad}
    assert trainable == {expected}
    result = train_steps(model, DATA, steps=40)
    convergence = check_convergence(result.losses)
    assert convergence, convergence.detail


OPTIMIZERS = {"adamw": 3e-3, "adam": 3e-3, "sgd": 0.5, "adadelta": 10.0, "adamw_8bit": 3e-3}


@pytest.mark.parametrize("optimizer", [pytest.param(name, marks=requires(optimizer=name)) for name in OPTIMIZERS])
def test_optimizers(optimizer: str) -> None:
    result = train_steps(tiny_model(train_type="lora"), DATA, optimizer=optimizer, lr=OPTIMIZERS[optimizer], steps=40)
    convergence = check_convergence(result.losses)
    assert convergence, f"{optimizer}: {convergence.detail}"
    assert result.optimizer["lr"] == OPTIMIZERS[optimizer]


SCHEDULERS = ("constant", "linear", "cosine", "cosine_with_restarts", "polynomial", "exponential")
# Every schedule on torch; on MLX the ones it builds itself or joins to a warmup (the rest are mlx.optimizers').
SCHEDULE_CASES = [(scheduler, "cpu") for scheduler in SCHEDULERS] + [
    pytest.param(scheduler, "mlx", marks=requires_backend("mlx"))
    for scheduler in ("linear", "cosine_with_restarts", "polynomial")
]


@pytest.mark.parametrize(("scheduler", "backend"), SCHEDULE_CASES)
def test_lr_schedulers(scheduler: str, backend: str) -> None:
    model = tiny_model(train_type="lora", backend=backend)
    result = train_steps(model, DATA, scheduler=scheduler, warmup=0.2, lr=3e-3, steps=20)
    expected = expected_lr_schedule(scheduler, 3e-3, 20, warmup=0.2)
    worst = max(abs(a - b) for a, b in zip(result.lrs, expected, strict=True))
    assert worst <= 1e-6 * 3e-3, list(zip(result.lrs, expected, strict=True))
    assert result.lrs[0] == 0.0 and max(result.lrs) == pytest.approx(3e-3)
    assert all(math.isfinite(loss) for loss in result.losses)
