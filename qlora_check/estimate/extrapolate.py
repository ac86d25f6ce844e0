"""From 1- and 2-layer measurements to the model's depth: the 2-minus-1 difference is one layer's cost.

Every figure (each part, each phase's peak) is extrapolated on its own as f(N) = f(1) + (N - 1)·(f(2) - f(1));
the peak is the largest extrapolated phase peak, so a phase that overtakes another at depth is still seen.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Iterator
from typing import Any

from qlora_check.estimate.configs import ModelConfig, load_config
from qlora_check.estimate.measure import PHASES, Measurement
from qlora_check.estimate.request import EstimateError, EstimateRequest
from qlora_check.estimate.result import EstimateResult, Part

PART_NOTES = {
    "weights": "frozen base weights (packed, if quantized), norms, embedding and output layer",
    "quant_state": "scales / absmax / codebooks hung on the quantized weights",
    "trainable": "trainable parameters (LoRA/DoRA matrices, or every weight for full fine-tuning)",
    "optimizer_state": "optimizer state after a step (AdamW: two fp32-or-param-dtype moments per parameter)",
    "gradients": "gradients of the trainable parameters after backward",
    "activations": "tensors alive at the end of forward (kept for backward, logits and loss included)",
}


def extrapolate(one: Measurement, two: Measurement, layers: int) -> dict[str, tuple[int, int]]:
    """name -> (value at ``layers`` layers, per-layer cost) for every part and phase peak."""
    figures: dict[str, tuple[int, int]] = {}
    first, second = one.to_dict(), two.to_dict()
    for name in PART_NOTES:
        figures[name] = _line(first[name], second[name], layers)
    for phase in PHASES:
        figures[f"peak:{phase}"] = _line(first["peaks"][phase], second["peaks"][phase], layers)
    return figures


def _line(at_one: int, at_two: int, layers: int) -> tuple[int, int]:
    per_layer = at_two - at_one
    return at_one + (layers - 1) * per_layer, per_layer


def estimate(
    request: EstimateRequest, config: ModelConfig | None = None, budget_gb: float | None = None
) -> EstimateResult:
    """Build 1 and 2 layers of the model, train two steps each, extrapolate to the model's depth.

    With ``budget_gb``, two more sequence lengths are measured (a quarter and half of the asked one) to
    find the largest batch × seq_len whose peak fits the budget.
    """
    import dataclasses

    import torch

    from qlora_check.estimate.build import build
    from qlora_check.estimate.measure import measure

    request.check()
    config = config or load_config(request.model)
    started = time.perf_counter()
    if request.backend == "cuda" and not torch.cuda.is_available():
        raise EstimateError("--backend cuda asked, but torch sees no CUDA device", tip="use --backend cpu")
    device = torch.device("cuda" if request.backend == "cuda" else "meta")
    seqs = [request.seq_len]
    if budget_gb is not None:
        seqs = sorted({max(1, request.seq_len // 4), max(1, request.seq_len // 2), request.seq_len})
    measured: dict[int, dict[int, Measurement]] = {}
    quantization: dict[str, Any] = {}
    cache: dict[str, Any] = {}
    for depth in (1, 2):
        with quiet_libraries():
            try:
                built = build(config, depth, request, device, cache)
                quantization = built.quantization
                measured[depth] = {seq: measure(built, dataclasses.replace(request, seq_len=seq)) for seq in seqs}
            except (RuntimeError, NotImplementedError) as exc:
                if not request.quantized or device.type != "meta":
                    raise
                reason = (str(exc).splitlines() or [""])[0][:160]
                raise EstimateError(
                    f"{request.quantizer} layers cannot train on the meta device ({type(exc).__name__}: {reason})",
                    tip="estimate it with --backend cuda on a machine with a GPU",
                ) from exc
        del built
    result = assemble(request, config, measured[1][request.seq_len], measured[2][request.seq_len], quantization,
                      time.perf_counter() - started)
    if budget_gb is None:
        return result
    from qlora_check.estimate.budget import largest_fitting

    peaks_by_seq = {
        seq: {phase: extrapolate(measured[1][seq], measured[2][seq], config.layers)[f"peak:{phase}"][0]
              for phase in PHASES}
        for seq in seqs
    }
    limit = int(config.values.get("max_position_embeddings") or 131072)
    budget = largest_fitting(peaks_by_seq, budget_gb, limit)
    return dataclasses.replace(result, budget=budget, seconds=time.perf_counter() - started)


def assemble(
    request: EstimateRequest,
    config: ModelConfig,
    one: Measurement,
    two: Measurement,
    quantization: dict[str, Any],
    seconds: float,
) -> EstimateResult:
    figures = extrapolate(one, two, config.layers)
    parts = tuple(
        Part(name, figures[name][0], figures[name][1], one.method, PART_NOTES[name]) for name in PART_NOTES
    )
    phase_peaks = {phase: figures[f"peak:{phase}"][0] for phase in PHASES}
    peak_phase = max(phase_peaks, key=lambda phase: phase_peaks[phase])
    return EstimateResult(
        model=config.name,
        config_source=config.source,
        layers=config.layers,
        request=request.to_dict(),
        peak_bytes=phase_peaks[peak_phase],
        peak_phase=peak_phase,
        parts=parts,
        phase_peaks=phase_peaks,
        assumptions=assumptions(request, one),
        measured={"one_layer": one.to_dict(), "two_layers": two.to_dict(), "method": one.method},
        quantization=quantization,
        seconds=seconds,
        versions=_versions(),
    )


def assumptions(request: EstimateRequest, one: Measurement) -> tuple[str, ...]:
    """The statements every figure rests on, printed with the figures."""
    kernels = ", ".join(one.attention_kernels) or "the model's own (eager) attention"
    lines = [
        f"precision {request.precision}: parameters and compute in that dtype; "
        f"optimizer state in the trainable parameters' dtype ({request.optimizer}, torch.optim defaults)",
        f"gradient checkpointing {'on (non-reentrant)' if request.grad_checkpointing else 'off'}",
        f"batch {request.batch} × seq_len {request.seq_len} measured directly (no sequence scaling)",
        f"attention: {kernels}",
        "peak = the largest extrapolated phase peak of the second training step (steady state: optimizer "
        "state exists); allocator caching and fragmentation, CUDA context and library workspaces are not included",
    ]
    if request.train_type != "full":
        lines.append(f"LoRA r={request.lora_r}, alpha={2 * request.lora_r}, all linear layers but the output layer, "
                     "quantized ones included; embeddings and norms not cast to fp32")
    if request.quantized:
        lines.append("quantized layers really quantized (random weights, checkpoint loaded through the project's "
                     "quantizer), then moved to the step's device; output layer left unquantized")
    if request.backend == "cpu":
        lines.append("the step ran on the meta device (real modules, autograd and optimizer; shapes only, no compute)")
    return tuple(lines)


@contextlib.contextmanager
def quiet_libraries() -> Iterator[None]:
    """transformers and peft warn about deprecations and settings on every build; none of it is ours to show."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", UserWarning)
        yield


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found: dict[str, str] = {}
    for name in ("torch", "transformers", "peft"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found
