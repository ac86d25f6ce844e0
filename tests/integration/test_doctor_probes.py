"""Real probe subprocesses on this CPU: every installed quantizer family passes, a missing or hanging
library is reported as such, and the cache answers repeat questions without probing again.
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

import pytest

from qlora_check.doctor.models import ProbeResult, ProbeSpec
from qlora_check.doctor.probes import run_probe, run_probes
from qlora_check.doctor.service import DoctorOptions, detect_devices, run_doctor
from tests.conftest import REPO, pythonpath_env

EXPECTED = ["cpu/none", "cpu/bnb", "cpu/hqq", "cpu/quanto", "mlx/none", "mlx/mlx"]


def shim(directory: Path, package: str, body: str) -> dict[str, str]:
    """An environment in which ``import package`` runs ``body`` instead of the real library."""
    (directory / package).mkdir(parents=True)
    (directory / package / "__init__.py").write_text(body, encoding="utf-8")
    return {"PYTHONPATH": os.pathsep.join([str(directory), str(REPO), os.environ.get("PYTHONPATH", "")])}


def test_devices_are_what_torch_and_mlx_report() -> None:
    devices, error = detect_devices({})
    assert error == "" and devices is not None
    torch = devices["torch"]
    assert torch["version"] == importlib.metadata.version("torch")
    assert torch["cuda_available"] is False and torch["device_count"] == 0  # this CI host has no GPU
    assert torch["mps_available"] is False
    assert devices["mlx"]["version"] == importlib.metadata.version("mlx")
    assert "cpu" in devices["mlx"]["default_device"]


def test_doctor_probes_every_family_for_real_reuses_the_cache_and_refreshes(tmp_path: Path) -> None:
    seen: list[ProbeResult] = []
    report = run_doctor(DoctorOptions(cache_dir=tmp_path), seen.append)
    assert [result.key for result in report.probes] == EXPECTED
    failures = {result.key: result.reason for result in report.probes if not result.ok}
    assert failures == {}
    assert [result.key for result in seen] == EXPECTED and report.probe_source == "fresh"
    for result in report.probes:
        error = result.details["relative_error"]
        assert (error == 0.0) if result.family == "none" else (0.0 < error < 0.5)
        assert all(norm > 0 for norm in result.details["grad_norms"])
    bnb = next(result for result in report.probes if result.family == "bnb")
    assert bnb.details["bitsandbytes"] == importlib.metadata.version("bitsandbytes")
    assert not report.backends["cuda"].available and "CPU-only build" in report.backends["cuda"].reason
    assert report.working_backends() == ["cpu", "mlx"] and report.exit_code == 0
    assert Path(report.cache_path).parent == tmp_path

    seen.clear()
    again = run_doctor(DoctorOptions(cache_dir=tmp_path), seen.append)
    assert seen == [] and again.probe_source == "cache"
    assert all(result.cached for result in again.probes)
    assert [result.probed_at for result in again.probes] == [result.probed_at for result in report.probes]

    skipped = run_doctor(DoctorOptions(probe=False, cache_dir=tmp_path / "empty"), seen.append)
    assert seen == [] and skipped.probes == [] and skipped.probe_source == "skipped"
    assert skipped.exit_code == 0  # detection alone found cpu and mlx

    refreshed = run_doctor(DoctorOptions(cache_dir=tmp_path, refresh=True), seen.append)
    assert [result.key for result in seen] == EXPECTED
    assert refreshed.probe_source == "fresh" and not any(result.cached for result in refreshed.probes)


def test_parallel_probes_keep_their_order() -> None:
    specs = [ProbeSpec("mlx", "mlx"), ProbeSpec("mlx", "none")]
    results = run_probes(specs, timeout_s=120, jobs=2)
    assert [(result.key, result.status) for result in results] == [("mlx/mlx", "pass"), ("mlx/none", "pass")]


def test_a_library_that_cannot_be_imported_is_missing_with_its_hint(tmp_path: Path) -> None:
    env = shim(tmp_path, "hqq", "raise ModuleNotFoundError(\"No module named 'hqq'\", name='hqq')\n")
    result = run_probe(ProbeSpec("cpu", "hqq"), 120, env)
    assert result.status == "missing" and result.is_verdict_against
    assert result.reason == "hqq is not importable (No module named 'hqq'); pip install hqq"


def test_a_library_error_is_reported_in_its_own_words(tmp_path: Path) -> None:
    env = shim(tmp_path, "bitsandbytes", "raise RuntimeError('CUDA Setup failed despite GPU being available')\n")
    result = run_probe(ProbeSpec("cpu", "bnb"), 120, env)
    assert result.status == "error" and result.error_type == "RuntimeError"
    assert result.reason == "RuntimeError: CUDA Setup failed despite GPU being available"


def test_a_hanging_probe_hits_its_timeout(tmp_path: Path) -> None:
    env = shim(tmp_path, "mlx", "import time\ntime.sleep(600)\n")
    result = run_probe(ProbeSpec("mlx", "mlx"), 3, env)
    assert result.status == "timeout" and not result.is_verdict_against
    assert result.reason == "the probe did not finish within 3 s and was killed"


def test_a_crashing_probe_is_a_crash(tmp_path: Path) -> None:
    env = shim(tmp_path, "mlx", "import os\nos.abort()\n")
    result = run_probe(ProbeSpec("mlx", "none"), 60, env)
    assert result.status == "crash" and result.error_type == "SIGABRT"


@pytest.mark.parametrize("code", ["detect_host_capabilities()", "run_doctor(DoctorOptions(probe=False, cache_dir=d))"])
def test_plan_and_doctor_never_import_torch_or_mlx_in_the_caller(tmp_path: Path, code: str) -> None:
    script = (
        "import sys\nfrom pathlib import Path\nfrom qlora_check.doctor.host_view import detect_host_capabilities\n"
        "from qlora_check.doctor.service import DoctorOptions, run_doctor\n"
        f"d = Path({str(tmp_path)!r})\n{code}\n"
        "heavy = [m for m in ('torch', 'mlx', 'transformers', 'bitsandbytes') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    completed = subprocess.run([sys.executable, "-c", script], env=pythonpath_env(), capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr
