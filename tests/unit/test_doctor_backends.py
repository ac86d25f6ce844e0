"""Backend verdicts and their reasons, from cheap facts and from what torch and mlx reported."""

from __future__ import annotations

import platform
from typing import Any

import pytest

from qlora_check.doctor.backends import assess_backends
from qlora_check.doctor.models import family_of

INSTALLED = {"torch": True, "mlx": True, "mlx_lm": True}
A100 = [{"index": "0", "name": "NVIDIA A100", "memory": "40960 MiB", "driver": "550.54", "compute_capability": "8.0"}]


def torch_report(**overrides: Any) -> dict[str, Any]:
    report = {
        "importable": True,
        "version": "2.5.0",
        "cuda_build": None,
        "hip_build": None,
        "cuda_available": False,
        "device_count": 0,
        "devices": [],
        "mps_built": False,
        "mps_available": False,
    }
    return {**report, **overrides}


def test_cheap_path_without_gpus_keeps_cpu_and_explains_the_rest(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    backends = assess_backends(INSTALLED, None, [])
    assert backends["cpu"].available
    assert backends["cuda"].reason == "no CUDA device on this host (nvidia-smi lists none)"
    assert backends["mlx"].available
    if platform.system() != "Darwin":
        assert not backends["mps"].available
        assert f"{platform.system()} {platform.machine()}" in backends["mps"].reason


def test_cuda_visible_devices_can_hide_every_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert "CUDA_VISIBLE_DEVICES hides" in assess_backends(INSTALLED, None, A100)["cuda"].reason
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    assert assess_backends(INSTALLED, None, A100)["cuda"].available


def test_a_cpu_only_torch_build_is_named_as_the_reason() -> None:
    cuda = assess_backends(INSTALLED, {"torch": torch_report(version="2.13.0+cpu")}, A100)["cuda"]
    assert not cuda.available
    assert "torch 2.13.0+cpu is a CPU-only build" in cuda.reason


def test_a_cuda_build_without_a_usable_device_says_so() -> None:
    cuda = assess_backends(INSTALLED, {"torch": torch_report(cuda_build="12.4")}, [])["cuda"]
    assert cuda.reason.endswith("built for CUDA 12.4 but torch.cuda.is_available() is False (nvidia-smi lists no GPU)")


def test_rocm_builds_are_recognised() -> None:
    device = {"index": 0, "name": "AMD Instinct MI300X", "capability": "9.4", "memory_gb": 192.0}
    report = torch_report(hip_build="6.2.4", cuda_available=True, device_count=1, devices=[device])
    cuda = assess_backends(INSTALLED, {"torch": report}, [])["cuda"]
    assert cuda.available
    assert cuda.details["kind"] == "rocm" and cuda.details["devices"] == [device]


def test_libraries_that_are_missing_or_do_not_import_are_reasons() -> None:
    backends = assess_backends({"torch": False, "mlx": False}, None, [])
    assert backends["cpu"].reason == "torch is not installed (pip install torch)"
    assert "pip install 'mlx[cpu]'" in backends["mlx"].reason
    broken = {"torch": {"importable": False, "error": "OSError: libcudart.so.12"}, "mlx": {"importable": False}}
    backends = assess_backends(INSTALLED, broken, [])
    assert backends["cpu"].reason == "torch does not import: OSError: libcudart.so.12"
    assert backends["mlx"].reason.startswith("mlx does not import")


@pytest.mark.parametrize(
    ("quantizer", "family"),
    [("none", "none"), ("bnb-int8", "bnb"), ("hqq-2bit", "hqq"), ("quanto-fp8", "quanto"), ("mlx-6bit", "mlx")],
)
def test_every_quantizer_belongs_to_its_probe_family(quantizer: str, family: str) -> None:
    assert family_of(quantizer) == family
