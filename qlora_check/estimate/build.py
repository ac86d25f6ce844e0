"""Real-shaped models of 1 and 2 decoder layers: real HF classes, real quantization, real adapters.

On CPU the step runs on the meta device: the real modules, autograd graph and optimizer run with shapes
and dtypes only, so a 70B layer at 8k tokens costs seconds. Quantized layers are quantized for real first
(a saved checkpoint loaded through the project's quantizer, on real random weights) and then moved to
meta, so their packed weights and quantization state are the ones the library really produced.
"""

from __future__ import annotations

import copy
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from qlora_check.estimate.configs import ModelConfig
from qlora_check.estimate.request import EstimateError, EstimateRequest

# A small vocabulary for the really quantized checkpoint: the embedding and output layer are never
# quantized, so they are swapped for full-vocabulary ones on meta afterwards.
_CHECKPOINT_VOCAB = 256
_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


@dataclass
class Built:
    """A model ready to train a step, and how its base weights were made."""

    model: torch.nn.Module
    device: torch.device
    quantization: dict[str, Any] = field(default_factory=dict)


def param_dtype(request: EstimateRequest) -> torch.dtype:
    return _DTYPES[request.precision]


def hf_config(config: ModelConfig, layers: int, vocab: int | None = None) -> Any:
    """The transformers config of ``config`` cut to ``layers`` decoder layers."""
    from transformers import AutoConfig

    values = dict(config.values)
    values.pop("model_type")
    values.pop("architectures", None)
    values["num_hidden_layers"] = layers
    values.pop("layer_types", None)  # recomputed by the config class for the new depth
    if vocab is not None:
        values["vocab_size"] = vocab
        for token in ("pad_token_id", "bos_token_id", "eos_token_id"):  # ids past a small vocabulary
            values[token] = None
    values["use_cache"] = False
    try:
        return AutoConfig.for_model(config.values["model_type"], **values)
    except (ValueError, KeyError) as exc:
        raise EstimateError(f"transformers cannot build a {config.values['model_type']!r} config: {exc}") from None


def build(
    config: ModelConfig, layers: int, request: EstimateRequest, device: torch.device, cache: dict[str, Any]
) -> Built:
    """A ``layers``-deep model of ``config`` with adapters (or all weights) trainable, on ``device``.

    On meta, a quantized model is quantized for real once at one layer (``cache`` keeps it); deeper
    models repeat that layer, as a decoder repeats identical layers.
    """
    dtype = param_dtype(request)
    if request.quantized and device.type == "meta":
        if "one_layer" not in cache:
            cache["one_layer"] = _quantized(config, 1, request, torch.device("cpu"), small_vocab=True)
        seed: Built = cache["one_layer"]
        model = _deepened(seed.model, config, layers)  # on the CPU: the quantized types copy only there
        to_meta(model)
        _full_vocab_on_meta(model, config.vocab_size, dtype)
        built = Built(model, device, seed.quantization)
    elif request.quantized:
        built = _quantized(config, layers, request, device)
    else:
        built = Built(_plain(hf_config(config, layers), dtype, device), device)
    if request.grad_checkpointing:
        built.model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    built.model.train()
    _make_trainable(built, request)
    return built


def _deepened(model: torch.nn.Module, config: ModelConfig, layers: int) -> torch.nn.Module:
    """A copy of a one-layer model with its layer repeated ``layers`` times (meta tensors: no memory)."""
    deeper = copy.deepcopy(model)
    stack = next(
        module for module in deeper.modules() if isinstance(module, torch.nn.ModuleList) and len(module) == 1
    )
    for index in range(1, layers):
        layer = copy.deepcopy(stack[0])
        for sub in layer.modules():
            if hasattr(sub, "layer_idx"):
                sub.layer_idx = index
        stack.append(layer)
    target = hf_config(config, layers)
    deeper.config.num_hidden_layers = layers  # type: ignore[union-attr]
    if hasattr(target, "layer_types"):
        deeper.config.layer_types = target.layer_types  # type: ignore[union-attr]
    return deeper


def _plain(hf: Any, dtype: torch.dtype, device: torch.device) -> torch.nn.Module:
    from transformers import AutoModelForCausalLM

    with torch.device(device):
        model: torch.nn.Module = AutoModelForCausalLM.from_config(hf).to(dtype)
    return model


def _quantized(
    config: ModelConfig, layers: int, request: EstimateRequest, device: torch.device, small_vocab: bool = False
) -> Built:
    from qlora_check.quantizers import family_of
    from qlora_check.quantizers.interface import QuantizeRequest

    dtype = param_dtype(request)
    with tempfile.TemporaryDirectory(prefix="qlora-check-estimate-") as folder:
        vocab = _CHECKPOINT_VOCAB if small_vocab else None
        model = _plain(hf_config(config, layers, vocab), dtype, torch.device("meta"))
        model.to_empty(device="cpu")
        _fill_random(model)
        model.save_pretrained(folder)  # type: ignore[operator]
        del model
        spec = family_of(request.quantizer)
        if spec is None:
            raise EstimateError(f"unknown quantizer {request.quantizer!r}")
        quantizer = spec.implementation("torch")
        quantize_request = QuantizeRequest(request.quantizer, dtype, dtype, device)
        quantized, info = quantizer.load(Path(folder), quantize_request)
    info = {**info, "library": quantizer.distribution, "version": quantizer.version()}
    return Built(quantized, device, info)


def _fill_random(model: torch.nn.Module) -> None:
    """Random values fast (HF's initialiser takes ~20 s for one 8B layer here); norms at one."""
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.dim() == 1:
                parameter.fill_(1.0)
            else:
                parameter.uniform_(-0.02, 0.02, generator=generator)
        for buffer_name, buffer in model.named_buffers():
            if "inv_freq" in buffer_name or buffer.is_floating_point():
                buffer.zero_()
    # Rotary frequencies are non-persistent buffers: from_pretrained recomputes them, so garbage here is harmless.


def tensors_of(model: torch.nn.Module) -> Iterator[torch.Tensor]:
    """Every tensor a model holds: parameters, buffers and tensors hung on parameters (quantization state)."""
    yield from model.parameters()
    yield from model.buffers()
    for parameter in model.parameters():
        if type(parameter) is not torch.nn.Parameter:
            yield from _attached_tensors(parameter.__dict__, depth=3)


def _attached_tensors(values: dict[str, Any], depth: int) -> Iterator[torch.Tensor]:
    for value in values.values():
        if isinstance(value, torch.Tensor):
            yield value
        elif depth > 0 and hasattr(value, "__dict__") and not isinstance(value, type):
            yield from _attached_tensors(vars(value), depth - 1)


def to_meta(model: torch.nn.Module) -> None:
    """Move a (quantized) model to meta; quantized parameter types keep their type and state."""
    for module in model.modules():
        for name, parameter in list(module._parameters.items()):
            if parameter is None:
                continue
            if type(parameter) is torch.nn.Parameter:
                module._parameters[name] = torch.nn.Parameter(parameter.to("meta"), parameter.requires_grad)
            else:
                module._parameters[name] = parameter.to("meta")
        for name, buffer in list(module._buffers.items()):
            if buffer is not None:
                module._buffers[name] = buffer.to("meta")
    leftovers = [tensor for tensor in tensors_of(model) if tensor.device.type != "meta"]
    if leftovers:
        raise EstimateError("this quantizer's layers keep tensors off the meta device; estimate it with --backend cuda")


def _full_vocab_on_meta(model: Any, vocab: int, dtype: torch.dtype) -> None:
    """Swap the small-vocabulary embedding and output layer for real-size ones on meta."""
    embedding = model.get_input_embeddings()
    hidden = embedding.weight.shape[1]
    new_embedding = torch.nn.Embedding(vocab, hidden, embedding.padding_idx, device="meta", dtype=dtype)
    model.set_input_embeddings(new_embedding)
    output = model.get_output_embeddings()
    new_output = torch.nn.Linear(hidden, vocab, bias=output.bias is not None, device="meta", dtype=dtype)
    if model.config.tie_word_embeddings:
        new_output.weight = new_embedding.weight
    model.set_output_embeddings(new_output)
    old_vocab = model.config.vocab_size
    for module in model.modules():  # the loss reads the causal-LM module's own copy of the vocabulary size
        if getattr(module, "vocab_size", None) == old_vocab:
            module.vocab_size = vocab
    model.config.vocab_size = vocab


def _make_trainable(built: Built, request: EstimateRequest) -> None:
    if request.train_type == "full":
        for parameter in built.model.parameters():
            parameter.requires_grad_(True)
        return
    from peft import LoraConfig, get_peft_model

    lora = LoraConfig(
        r=request.lora_r,
        lora_alpha=2 * request.lora_r,
        lora_dropout=0.0,
        target_modules=_linear_names(built.model),
        use_dora=request.train_type in ("dora", "qdora"),
        task_type="CAUSAL_LM",
    )
    built.model = get_peft_model(built.model, lora)  # type: ignore[arg-type]


def _linear_names(model: torch.nn.Module) -> list[str]:
    """Short names of every linear layer but the output layer, quantized ones included (peft's "all-linear"
    recognises only some quantized linear classes)."""
    output = model.get_output_embeddings()  # type: ignore[operator]
    return sorted(
        {
            name.rsplit(".", 1)[-1]
            for name, module in model.named_modules()
            if hasattr(module, "in_features") and hasattr(module, "out_features") and module is not output and name
        }
    )
