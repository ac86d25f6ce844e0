"""One model, two training steps, every figure measured: weights, quantization state, adapters, optimizer
state, gradients, activations kept for backward, and the peak of each phase of the second (steady) step.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch

from qlora_check.estimate.build import Built, tensors_of
from qlora_check.estimate.request import EstimateRequest
from qlora_check.estimate.tracker import METHOD as TRACKER_METHOD
from qlora_check.estimate.tracker import LiveBytes

PHASES = ("forward", "backward", "optimizer")
CUDA_METHOD = "torch.cuda.max_memory_allocated per phase (memory_allocated for persistent parts)"


@dataclass(frozen=True)
class Measurement:
    """Bytes of one model's step. ``peaks`` holds the second step's phases; ``first_step`` its whole peak."""

    weights: int
    quant_state: int
    trainable: int
    optimizer_state: int
    gradients: int
    activations: int
    peaks: dict[str, int]
    first_step: int
    method: str
    attention_kernels: tuple[str, ...]

    @property
    def peak(self) -> int:
        return max(self.peaks.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "weights": self.weights,
            "quant_state": self.quant_state,
            "trainable": self.trainable,
            "optimizer_state": self.optimizer_state,
            "gradients": self.gradients,
            "activations": self.activations,
            "peaks": dict(self.peaks),
            "first_step": self.first_step,
        }


def measure(built: Built, request: EstimateRequest) -> Measurement:
    """Train two steps of ``built`` at batch × seq_len and measure them on its device."""
    model = built.model
    trainable = [parameter for parameter in model.parameters() if parameter.requires_grad]
    optimizer = _optimizer(request.optimizer, trainable)
    vocab = int(model.config.vocab_size)
    tokens = torch.randint(0, vocab, (request.batch, request.seq_len), device=built.device)
    weights, quant_state, trainable_bytes = _static_parts(model)
    meter = _CudaMeter() if built.device.type == "cuda" else _TensorMeter(model)
    kernels: set[str] = set()
    with meter, _flash_attention_on_meta(built.device, kernels):
        meter.phase("step1")
        _train_step(model, tokens, optimizer)
        first_step = meter.peak_of("step1")
        meter.phase("start")
        start = meter.current()
        meter.phase("forward")
        loss = model(input_ids=tokens, labels=tokens).loss
        activations = meter.current() - start
        meter.phase("backward")
        loss.backward()
        del loss
        gradients = _bytes({id(p.grad): p.grad for p in trainable if p.grad is not None}.values())
        meter.phase("optimizer")
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        meter.phase("end")
    state = [value for entry in optimizer.state.values() for value in entry.values() if isinstance(value, torch.Tensor)]
    return Measurement(
        weights=weights,
        quant_state=quant_state,
        trainable=trainable_bytes,
        optimizer_state=_bytes(state),
        gradients=gradients,
        activations=activations,
        peaks={phase: meter.peak_of(phase) for phase in PHASES},
        first_step=first_step,
        method=meter.method,
        attention_kernels=tuple(sorted(kernels)),
    )


def _train_step(model: Any, tokens: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
    """The first step: it creates the optimizer state, so the second one is the steady state."""
    loss = model(input_ids=tokens, labels=tokens).loss
    loss.backward()
    del loss
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def _optimizer(name: str, parameters: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
    if name == "adamw":
        return torch.optim.AdamW(parameters, lr=1e-4)
    if name == "adam":
        return torch.optim.Adam(parameters, lr=1e-4)
    return torch.optim.SGD(parameters, lr=1e-4)


def _bytes(tensors: Any) -> int:
    seen: dict[int, int] = {}
    for tensor in tensors:
        storage = tensor.untyped_storage()
        seen[storage._cdata] = storage.nbytes()
    return sum(seen.values())


def _static_parts(model: torch.nn.Module) -> tuple[int, int, int]:
    """Frozen base weights, quantization state hung on quantized weights, trainable parameters."""
    parameters = list(model.parameters())
    trainable = _bytes(p for p in parameters if p.requires_grad)
    frozen = _bytes([p for p in parameters if not p.requires_grad] + list(model.buffers()))
    everything = _bytes(tensors_of(model))
    return frozen, everything - frozen - trainable, trainable


class _TensorMeter:
    method = TRACKER_METHOD

    def __init__(self, model: torch.nn.Module) -> None:
        self._live = LiveBytes()
        self._live.adopt(tensors_of(model))

    def __enter__(self) -> _TensorMeter:
        self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._live.__exit__(*exc)

    def phase(self, name: str) -> None:
        self._live.enter_phase(name)

    def current(self) -> int:
        self._live.enter_phase(self._live.phase)
        return self._live.current

    def peak_of(self, phase: str) -> int:
        return self._live.peaks.get(phase, 0)


class _CudaMeter:
    method = CUDA_METHOD

    def __init__(self) -> None:
        self._peaks: dict[str, int] = {}
        self._phase = "setup"

    def __enter__(self) -> _CudaMeter:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        return self

    def __exit__(self, *exc: object) -> None:
        self.phase("end")

    def phase(self, name: str) -> None:
        torch.cuda.synchronize()
        self._peaks[self._phase] = max(self._peaks.get(self._phase, 0), torch.cuda.max_memory_allocated())
        torch.cuda.reset_peak_memory_stats()
        self._phase = name

    def current(self) -> int:
        torch.cuda.synchronize()
        return int(torch.cuda.memory_allocated())

    def peak_of(self, phase: str) -> int:
        return self._peaks.get(phase, 0)


@contextlib.contextmanager
def _flash_attention_on_meta(device: torch.device, kernels: set[str]) -> Iterator[None]:
    """On meta, SDPA falls back to its math form (a seq × seq matrix); run the CPU flash kernel's meta
    implementation instead, which is what SDPA picks for these shapes on a real CPU or GPU."""
    import torch.nn.functional as functional

    original = functional.scaled_dot_product_attention

    def flash(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, attn_mask: Any = None,
              dropout_p: float = 0.0, is_causal: bool = False, scale: float | None = None,
              enable_gqa: bool = False) -> torch.Tensor:
        if query.device.type != "meta":
            kernels.add("sdpa (device's own choice)")
            return original(query, key, value, attn_mask=attn_mask, dropout_p=dropout_p, is_causal=is_causal,
                            scale=scale, enable_gqa=enable_gqa)
        if enable_gqa and key.shape[-3] != query.shape[-3]:
            repeats = query.shape[-3] // key.shape[-3]
            key = key.repeat_interleave(repeats, dim=-3)
            value = value.repeat_interleave(repeats, dim=-3)
        kernels.add("flash (meta implementation of the CPU flash kernel)")
        output = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(
            query, key, value, dropout_p, is_causal, attn_mask=attn_mask, scale=scale
        )
        return output[0]  # type: ignore[no-any-return]

    if device.type != "meta":
        yield
        return
    from transformers import masking_utils

    # Packed-sequence detection reads tensor values (.all()), which meta tensors have not; the tokens fed
    # here are one unpacked sequence per row, whose answer is "not packed".
    find_packed = masking_utils.find_packed_sequence_indices
    masking_utils.find_packed_sequence_indices = lambda position_ids: None
    functional.scaled_dot_product_attention = flash
    try:
        yield
    finally:
        functional.scaled_dot_product_attention = original
        masking_utils.find_packed_sequence_indices = find_packed
