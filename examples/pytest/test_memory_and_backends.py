"""Memory, loading, quantization and cross-backend tests, written with `qlora_check.testing`: every figure
asserted here was measured on this host (RSS high-water marks, device allocator peaks, losses)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from qlora_check.testing import (
    eval_loss,
    learnable_dataset,
    memory_tracker,
    model_info,
    requires_backend,
    requires_quantizer,
    skip_reason,
    tiny_model,
    train_steps,
)

DATA = learnable_dataset(64)
HELD_OUT = learnable_dataset(8, seed=1)
# Big enough that full fine-tuning's gradients and AdamW state (3 x ~11M parameters x 4 bytes, ~130 MiB)
# dwarf allocator noise; still a few seconds a step on one CPU thread.
MEDIUM = {"hidden_size": 512, "intermediate_size": 1024, "num_hidden_layers": 4, "num_attention_heads": 8}


def test_training_memory_efficiency_comparison() -> None:
    """LoRA's training peak (host RSS above the block's start) is far below full fine-tuning's."""
    lora_model = tiny_model(train_type="lora", **MEDIUM)
    # One step first, unmeasured: the process's one-time costs (thread pools, lazy inits) are neither's.
    train_steps(lora_model, DATA, steps=1, batch_size=4)
    lora = train_steps(lora_model, DATA, steps=2, batch_size=4)
    full_model = tiny_model(train_type="full", **MEDIUM)
    parameters = sum(p.numel() for p in full_model.parameters())
    full = train_steps(full_model, DATA, steps=2, batch_size=4)
    assert lora.memory.method == full.memory.method and lora.memory.peak_rss_mb is not None
    assert full.memory.peak_rss_mb is not None
    gradients_and_adam_mb = 3 * parameters * 4 / 2**20
    assert full.memory.peak_rss_mb > lora.memory.peak_rss_mb + 0.5 * gradients_and_adam_mb, (
        f"full {full.memory.peak_rss_mb} MiB, LoRA {lora.memory.peak_rss_mb} MiB, "
        f"gradients + AdamW state {gradients_and_adam_mb:.0f} MiB"
    )


DEVICE_BACKENDS = [pytest.param(backend, marks=requires_backend(backend)) for backend in ("cuda", "mps", "mlx")]


@pytest.mark.parametrize("backend", DEVICE_BACKENDS)
def test_backend_memory_efficiency(backend: str) -> None:
    """On each accelerator backend, by its own allocator's peak: LoRA below full, a 4-bit base below fp32."""
    peaks = {}
    for label, quantizer, train_type in (("full", None, "full"), ("lora", None, "lora"), ("qlora", "4bit", "qlora")):
        if quantizer:
            quantizer = "mlx-4bit" if backend == "mlx" else "bnb-nf4"
            if skip_reason(backend, quantizer):
                continue
        model = tiny_model(quantizer=quantizer, backend=backend, train_type=train_type, **MEDIUM)
        result = train_steps(model, DATA, steps=2, batch_size=4)
        assert result.memory.device_method, result.memory
        peaks[label] = result.memory.device_peak_mb
        del model
    assert peaks["lora"] < 0.7 * peaks["full"], peaks
    if "qlora" in peaks:
        assert peaks["qlora"] < 0.6 * peaks["lora"], peaks


ARCHS = ("llama", "mistral", "qwen2")
CPU_QUANTIZERS = ("none", "bnb-nf4", "quanto-int8")  # int8: see test_training.py on quanto-int4


@pytest.mark.parametrize("quantizer", [pytest.param(q, marks=requires_quantizer(q)) for q in CPU_QUANTIZERS])
@pytest.mark.parametrize("arch", ARCHS)
def test_cpu_model_loading_and_quantization(arch: str, quantizer: str) -> None:
    """Every tiny architecture loads on CPU through from_pretrained; a quantized base keeps its loss."""
    reference = eval_loss(tiny_model(arch), HELD_OUT)
    assert abs(reference - math.log(256)) < 1.5, reference  # a random init predicts close to uniform
    if quantizer == "none":
        return
    model = tiny_model(arch, quantizer=quantizer)
    info = model_info(model)
    assert info.quantized_modules == 14, info.quantization
    assert info.quantization["quantized_bytes"] < 0.5 * info.quantization["unquantized_bytes"]
    with memory_tracker("cpu") as memory:
        quantized = eval_loss(model, HELD_OUT)
    assert memory.peak_rss_mb is not None and memory.method in ("vmhwm", "sampler")
    assert abs(quantized - reference) < 0.05 * reference, (reference, quantized)


GRID = [(backend, quantizer) for backend in ("cpu", "mlx") for quantizer in ("none", "bnb-nf4", "hqq-4bit", "mlx-4bit")]


def test_quantization_compatibility_matrix() -> None:
    """Each backend x quantizer pair: n/a where qlora-check's rules say, else it trains here (or skips why)."""
    table: dict[tuple[str, str], str] = {}
    for backend, quantizer in GRID:
        reason = skip_reason(backend, quantizer)
        if reason:
            table[backend, quantizer] = "n/a" if reason.startswith("n/a") else "skip"
            continue
        model = tiny_model(
            quantizer=None if quantizer == "none" else quantizer,
            backend=backend,
            train_type="qlora" if quantizer != "none" else "lora",
        )
        losses = train_steps(model, DATA, steps=4).losses
        table[backend, quantizer] = "pass" if all(map(math.isfinite, losses)) and losses[-1] < losses[0] else "fail"
    not_applicable = {pair for pair, verdict in table.items() if verdict == "n/a"}
    assert not_applicable == {("cpu", "mlx-4bit"), ("mlx", "bnb-nf4"), ("mlx", "hqq-4bit")}, table
    assert "fail" not in table.values(), table
    assert table["cpu", "none"] == "pass", table


TARGETS = [pytest.param(backend, marks=requires_backend(backend)) for backend in ("mlx", "cuda", "mps")]


@pytest.mark.parametrize("target", TARGETS)
def test_cross_backend_transfer(target: str, tmp_path: Path) -> None:
    """Trained with LoRA on CPU, merged and saved: another backend loads it and computes the same loss."""
    model = tiny_model(train_type="lora")
    before = eval_loss(model, HELD_OUT)
    train_steps(model, DATA, steps=40)
    trained = eval_loss(model, HELD_OUT)
    assert trained < 0.7 * before, (before, trained)
    model.merge_and_unload().save_pretrained(tmp_path / "merged")
    moved = eval_loss(tiny_model(str(tmp_path / "merged"), backend=target), HELD_OUT)
    assert abs(moved - trained) < 1e-3 * trained, (trained, moved)
