"""Detection reports the real host: compared with psutil, platform, /proc/cpuinfo and package metadata."""

from __future__ import annotations

import importlib.metadata
import platform
import sys
from pathlib import Path

import psutil

from qlora_check.doctor.detect import CPU_FLAGS, LIBRARIES, cpu_flags, detect_host, detect_libraries


def test_host_facts_are_the_real_ones() -> None:
    host = detect_host()
    assert host["os"]["system"] == platform.system()
    assert host["os"]["release"] == platform.release()
    assert host["python"]["version"] == platform.python_version()
    assert host["python"]["executable"] == sys.executable
    cpu = host["cpu"]
    assert cpu["logical_cores"] == psutil.cpu_count(logical=True)
    assert cpu["physical_cores"] == psutil.cpu_count(logical=False)
    assert 1 <= cpu["usable_cores"] <= cpu["logical_cores"]
    assert cpu["ram_gb"] == round(psutil.virtual_memory().total / 2**30, 1)
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        text = cpuinfo.read_text(encoding="utf-8")
        model = next(line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name"))
        assert cpu["model"] == model
        reported = set(next(line for line in text.splitlines() if line.startswith("flags")).split(":", 1)[1].split())
        assert cpu["flags"] == {flag: flag in reported for flag in CPU_FLAGS}


def test_cpu_flags_read_arm_features_and_survive_a_missing_file(tmp_path: Path) -> None:
    arm = tmp_path / "cpuinfo"
    arm.write_text("processor\t: 0\nFeatures\t: fp asimd evtstrm sve\n", encoding="utf-8")
    flags = cpu_flags(str(arm))
    assert flags["asimd"] and flags["sve"]
    assert not flags["avx2"]
    assert not any(cpu_flags(str(tmp_path / "absent")).values())


def test_library_versions_come_from_package_metadata() -> None:
    libraries = detect_libraries()
    assert [library.distribution for library in libraries] == [row[0] for row in LIBRARIES]
    for library in libraries:
        try:
            expected: str | None = importlib.metadata.version(library.distribution)
        except importlib.metadata.PackageNotFoundError:
            expected = None
        assert library.version == expected
        assert library.installed == (expected is not None)


def test_a_missing_library_is_reported_with_its_install_hint() -> None:
    table = (("torch", "torch", "pip install torch"), ("qlora-check-no-such-lib", "nosuchlib", "pip install it"))
    torch, missing = detect_libraries(table)
    assert torch.installed
    assert missing.version is None and not missing.installed
    assert missing.to_dict() == {
        "distribution": "qlora-check-no-such-lib",
        "module": "nosuchlib",
        "version": None,
        "hint": "pip install it",
        "installed": False,
    }
