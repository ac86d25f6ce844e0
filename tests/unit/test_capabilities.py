"""n/a by definition, skip by host: the rules live in capabilities.py."""

from __future__ import annotations

import pytest

from qlora_check.capabilities import HostCapabilities, not_applicable_reason
from qlora_check.doctor.host_view import detect_host_capabilities
from qlora_check.matrix import Cell
from qlora_check.matrix.axes import normalise_values


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


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ({"world_size": 2}, "needs a distributed strategy"),
        ({"distributed": "fsdp", "backend": "mlx", "quantizer": "none"}, "not available to the MLX engine"),
        ({"distributed": "ddp", "backend": "mps"}, "not available to the torch engine on mps"),
        ({"distributed": "ddp", "world_size": 3}, "does not split evenly"),
        ({"distributed": "ddp", "world_size": 2, "sharding": "hybrid"}, "FSDP settings"),
        ({"distributed": "fsdp", "world_size": 2, "cpu_offload": True}, "on the cpu backend they are there"),
        ({"distributed": "ddp", "world_size": 2, "inject_rank": 2}, "not a rank of world_size 2"),
        ({"sharding": "hybrid"}, "apply to distributed cells"),
    ],
)
def test_distributed_rules_are_not_applicable(values: dict[str, object], fragment: str) -> None:
    reason = not_applicable_reason(Cell.from_values(normalise_values(values)))
    assert reason is not None and fragment in reason, reason


def test_distributed_cells_that_make_sense_are_applicable() -> None:
    for values in ({"distributed": "fsdp2", "world_size": 2}, {"distributed": "ddp", "world_size": 1}):
        assert not_applicable_reason(Cell.from_values(normalise_values(values))) is None


def test_nccl_without_a_gpu_per_rank_is_a_skip() -> None:
    host = HostCapabilities(modules={"torch": True, "transformers": True, "peft": True}, cuda_devices=1, mps=False)
    two = Cell.from_values(normalise_values({"backend": "cuda", "distributed": "ddp", "world_size": 2}))
    one = Cell.from_values(normalise_values({"backend": "cuda", "distributed": "ddp", "world_size": 1}))
    assert "NCCL needs 2 GPUs" in (host.skip_reason(two) or "")
    assert host.skip_reason(one) is None


def test_a_multi_rank_cell_demands_a_thread_or_device_per_rank() -> None:
    from qlora_check.execution.resources import demand_for

    cpu = demand_for(Cell.from_values(normalise_values({"distributed": "fsdp2", "world_size": 2})))
    cuda = demand_for(Cell.from_values(normalise_values({"backend": "cuda", "distributed": "ddp", "world_size": 4})))
    assert (cpu.threads, cpu.devices) == (2, 0)
    assert (cuda.threads, cuda.devices, cuda.device_kind) == (4, 4, "cuda")
