"""n/a by definition, skip by host: the rules live in capabilities.py."""

from __future__ import annotations

import pytest

from qlora_check.capabilities import HostCapabilities, not_applicable_reason
from qlora_check.doctor.host_view import detect_host_capabilities
from qlora_check.matrix import Cell


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ({"train_type": "qlora"}, "quantizer is none"),
        ({"train_type": "lora", "quantizer": "bnb-nf4"}, "use qlora"),
        ({"train_type": "full", "quantizer": "hqq-4bit"}, "unquantized base"),
        ({"train_type": "qlora", "quantizer": "mlx-4bit"}, "MLX quantizer"),
        ({"backend": "mlx", "train_type": "qlora", "quantizer": "bnb-nf4"}, "torch quantizer"),
        ({"backend": "mlx", "train_type": "custom_lora"}, "torch-only"),
        ({"backend": "mlx", "precision": "bf16_autocast"}, "autocast"),
        ({"backend": "mlx", "optimizer": "adamw_8bit"}, "bitsandbytes"),
    ],
)
def test_invalid_by_definition(values: dict[str, str], fragment: str) -> None:
    reason = not_applicable_reason(Cell.from_values(values))
    assert reason is not None and fragment in reason


@pytest.mark.parametrize(
    "values",
    [
        {},
        {"train_type": "qlora", "quantizer": "hqq-4bit"},
        {"train_type": "llama_pro", "quantizer": "bnb-nf4"},
        {"backend": "mlx", "train_type": "qdora", "quantizer": "mlx-4bit"},
    ],
)
def test_valid_combinations_have_no_reason(values: dict[str, str]) -> None:
    assert not_applicable_reason(Cell.from_values(values)) is None


def test_this_host_runs_cpu_and_skips_absent_accelerators() -> None:
    host = detect_host_capabilities()
    assert host.skip_reason(Cell.from_values({})) is None
    if host.cuda_devices == 0:
        assert "no CUDA device" in (host.skip_reason(Cell.from_values({"backend": "cuda"})) or "")
    if not host.mps:
        assert "MPS" in (host.skip_reason(Cell.from_values({"backend": "mps"})) or "")


def test_missing_library_is_a_skip_with_an_install_hint() -> None:
    host = HostCapabilities(
        modules={"torch": True, "transformers": True, "peft": True, "hqq": False}, cuda_devices=0, mps=False
    )
    reason = host.skip_reason(Cell.from_values({"train_type": "qlora", "quantizer": "hqq-4bit"}))
    assert reason == "hqq is not installed (pip install 'qlora-check[hqq]')"
