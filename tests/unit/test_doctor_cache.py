"""The probe cache: keyed by environment fingerprint, tolerant of bad files, read by plan and run."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from qlora_check.doctor import cache
from qlora_check.doctor.host_view import detect_host_capabilities
from qlora_check.doctor.models import ProbeResult
from qlora_check.errors import QloraCheckError
from qlora_check.host import nvidia_gpus
from qlora_check.matrix.cell import Cell


def this_environment() -> tuple[str, dict[str, object]]:
    environment = cache.environment(nvidia_gpus())
    return cache.fingerprint_of(environment), environment


def failed(backend: str, family: str, status: str = "error", reason: str = "RuntimeError: kernel boom") -> ProbeResult:
    return ProbeResult(backend, family, status, reason, probed_at="2026-11-24T07:00:00+00:00")


def test_the_cache_dir_follows_the_environment_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path / "here"))
    assert cache.cache_dir() == tmp_path / "here"
    monkeypatch.delenv(cache.CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_dir() == tmp_path / "xdg" / "qlora-check"


def test_the_fingerprint_is_stable_and_changes_with_library_versions() -> None:
    fingerprint, environment = this_environment()
    assert this_environment()[0] == fingerprint
    libraries = {**environment["libraries"], "bitsandbytes": "0.0.1"}  # type: ignore[dict-item]
    assert cache.fingerprint_of({**environment, "libraries": libraries}) != fingerprint


def test_entries_round_trip_and_bad_files_are_misses(tmp_path: Path) -> None:
    fingerprint, environment = this_environment()
    assert cache.load(tmp_path, fingerprint) is None
    entry = cache.CacheEntry(fingerprint, environment, {"torch": {"importable": True}}, "now", {})
    entry.probes["cpu/bnb"] = failed("cpu", "bnb")
    path = cache.save(tmp_path, entry)
    loaded = cache.load(tmp_path, fingerprint)
    assert loaded is not None and loaded.devices == {"torch": {"importable": True}}
    assert loaded.probes["cpu/bnb"].reason == "RuntimeError: kernel boom" and loaded.probes["cpu/bnb"].cached
    assert cache.load(tmp_path, "0" * 16) is None
    data = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps({**data, "schema_version": 99}), encoding="utf-8")
    assert cache.load(tmp_path, fingerprint) is None
    path.write_text("{not json", encoding="utf-8")
    assert cache.load(tmp_path, fingerprint) is None
    assert [name for name in os.listdir(tmp_path) if name.endswith(".tmp")] == []


def test_an_unwritable_cache_dir_is_a_user_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")
    fingerprint, environment = this_environment()
    with pytest.raises(QloraCheckError, match="cannot write the doctor cache"):
        cache.save(blocker / "sub", cache.CacheEntry(fingerprint, environment))


def write_verdicts(directory: Path, *results: ProbeResult, devices: dict[str, object] | None = None) -> None:
    fingerprint, environment = this_environment()
    entry = cache.CacheEntry(fingerprint, environment, devices, "2026-11-24T07:00:00+00:00")
    entry.probes.update({result.key: result for result in results})
    cache.save(directory, entry)


def test_a_failed_family_probe_skips_that_family_on_that_backend_only(tmp_path: Path) -> None:
    write_verdicts(tmp_path, failed("cpu", "bnb"), failed("cpu", "hqq", status="timeout", reason="slow"))
    host = detect_host_capabilities(tmp_path)
    bnb = host.skip_reason(Cell.from_values({"train_type": "qlora", "quantizer": "bnb-int8"}))
    assert bnb is not None
    assert bnb.startswith("doctor: the bnb probe fails on cpu: RuntimeError: kernel boom")
    # a timeout proves nothing, other families and plain cells are untouched
    assert host.skip_reason(Cell.from_values({"train_type": "qlora", "quantizer": "hqq-4bit"})) is None
    assert host.skip_reason(Cell.from_values({"train_type": "lora"})) is None
    assert (
        detect_host_capabilities(tmp_path / "empty").skip_reason(
            Cell.from_values({"train_type": "qlora", "quantizer": "bnb-nf4"})
        )
        is None
    )


def test_a_failed_plain_probe_skips_every_cell_of_the_backend(tmp_path: Path) -> None:
    write_verdicts(tmp_path, failed("cpu", "none", status="crash", reason="killed by SIGILL"))
    host = detect_host_capabilities(tmp_path)
    reason = host.skip_reason(Cell.from_values({"train_type": "full"}))
    assert reason is not None and "plain LoRA forward/backward fails on cpu: killed by SIGILL" in reason


def test_cached_device_details_make_backend_reasons_precise(tmp_path: Path) -> None:
    cpu_only = {"importable": True, "version": "2.13.0+cpu", "cuda_build": None, "hip_build": None}
    write_verdicts(tmp_path, devices={"torch": cpu_only, "mlx": {"importable": False, "error": "ImportError: x"}})
    host = detect_host_capabilities(tmp_path)
    cuda = host.skip_reason(Cell.from_values({"backend": "cuda"}))
    if not nvidia_gpus():
        assert cuda == (
            "no CUDA device on this host: torch 2.13.0+cpu is a CPU-only build "
            "(torch.version.cuda and torch.version.hip are None)"
        )
    mlx = host.skip_reason(Cell.from_values({"backend": "mlx", "quantizer": "none", "train_type": "lora"}))
    assert mlx == "mlx does not import: ImportError: x"
