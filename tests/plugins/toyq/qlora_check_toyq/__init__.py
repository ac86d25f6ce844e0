"""A third-party quantizer family for qlora-check, as a plugin package would ship it (test fixture).

``toyq-8bit``: per-row absmax int8 weights of the decoder blocks' Linear layers, dequantized in forward.
A real (if simple) quantizer: the weights are stored in int8 and the model computes with them. It is found
through the entry point in ``qlora_check_toyq-0.1.dist-info/entry_points.txt``; qlora-check itself never
names it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qlora_check.quantizers.interface import QuantizeRequest, QuantizerSpec, TorchQuantizer

SPEC = QuantizerSpec(
    family="toyq",
    title="toyq",
    values=("toyq-8bit",),
    import_name="qlora_check_toyq",
    pip_name="qlora-check-toyq",
    extra="toyq",
    engines={"torch": "qlora_check_toyq:ToyQuantizer"},
    train_types=("custom_qlora",),
    probe_value="toyq-8bit",
)


def _toy_linear_class() -> Any:
    import torch

    class ToyLinear(torch.nn.Module):
        """int8 weights with one fp scale per output row; forward dequantizes on the fly."""

        def __init__(self, linear: torch.nn.Linear) -> None:
            super().__init__()
            weight = linear.weight.detach().float()
            scale = weight.abs().amax(dim=1, keepdim=True).clamp(min=1e-8) / 127.0
            self.register_buffer("qweight", torch.round(weight / scale).to(torch.int8))
            self.register_buffer("scale", scale.to(linear.weight.dtype))
            self.bias = linear.bias
            self.in_features, self.out_features = linear.in_features, linear.out_features

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            weight = self.qweight.to(x.dtype) * self.scale.to(x.dtype)
            return torch.nn.functional.linear(x, weight, self.bias)

    return ToyLinear


ToyLinear = _toy_linear_class()


class ToyQuantizer(TorchQuantizer):
    family = "toyq"
    distribution = "qlora-check-toyq"

    def load(self, checkpoint: Path, request: QuantizeRequest) -> tuple[Any, dict[str, Any]]:
        import torch

        from qlora_check.torch_models import load, without_layers

        model = load(checkpoint, request.param_dtype).to(request.device)
        with without_layers(model, request.skip_layers):
            targets = [
                (name, module)
                for name, module in model.named_modules()
                if ".layers." in f".{name}." and isinstance(module, torch.nn.Linear)
            ]
            for name, module in targets:
                parent_name, _, child = name.rpartition(".")
                setattr(model.get_submodule(parent_name), child, ToyLinear(module))
        return model, {"path": "qlora_check_toyq (per-row absmax int8)", "settings": {"layers": len(targets)}}

    def is_quantized(self, module: Any) -> bool:
        return isinstance(module, ToyLinear)

    def version(self) -> str:
        return "0.1"
