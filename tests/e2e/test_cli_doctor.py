"""`qlora-check doctor` end to end: the JSON document, the tables, exit codes, and plan using its verdicts."""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from qlora_check.cli import app
from qlora_check.doctor import cache
from qlora_check.doctor.models import ProbeResult
from qlora_check.host import nvidia_gpus
from tests.conftest import REPO, pythonpath_env, write_matrix

runner = CliRunner()


def test_doctor_json_then_tables_from_the_cache(tmp_path: Path) -> None:
    result = runner.invoke(app, ["doctor", "--json", "--cache-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["schema_version"] == 1 and document["ok"] is True
    assert document["working_backends"] == ["cpu", "mlx"]
    assert set(document["backends"]) == {"cpu", "cuda", "mps", "mlx"}
    cuda, mps = document["backends"]["cuda"], document["backends"]["mps"]
    assert cuda["available"] is False and cuda["reason"].startswith("no CUDA device on this host: torch ")
    if platform.system() != "Darwin":
        assert mps["available"] is False and "MPS needs macOS on Apple silicon" in mps["reason"]
    assert document["backends"]["mlx"]["details"]["version"] == importlib.metadata.version("mlx")
    libraries = {library["distribution"]: library for library in document["libraries"]}
    assert libraries["peft"]["version"] == importlib.metadata.version("peft")
    probes = {f"{p['backend']}/{p['family']}": p for p in document["probes"]["results"]}
    assert set(probes) == {"cpu/none", "cpu/bnb", "cpu/hqq", "cpu/quanto", "mlx/none", "mlx/mlx"}
    assert all(probe["ok"] and probe["status"] == "pass" for probe in probes.values())
    assert document["probes"]["source"] == "fresh"
    assert Path(document["cache_path"]).exists()

    tables = runner.invoke(app, ["doctor", "--cache-dir", str(tmp_path)])
    assert tables.exit_code == 0, tables.output
    shown = " ".join(tables.stdout.split())
    for text in ("Backends", "Libraries", "Probes", "bitsandbytes", "CPU-only build", "(cached)", "✓"):
        assert text in shown, text
    assert "working backends: cpu, mlx · probes: cache" in shown


def test_user_mistakes_exit_2_without_a_traceback(tmp_path: Path) -> None:
    result = runner.invoke(app, ["doctor", "--no-probe", "--refresh", "--cache-dir", str(tmp_path)])
    assert result.exit_code == 2 and "choose one" in result.stderr and "Traceback" not in result.output
    result = runner.invoke(app, ["doctor", "--timeout", "0", "--cache-dir", str(tmp_path)])
    assert result.exit_code == 2 and "--timeout must be positive" in result.stderr
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")
    result = runner.invoke(app, ["doctor", "--no-probe", "--cache-dir", str(blocker)])
    assert result.exit_code == 2 and "is not a directory" in " ".join(result.stderr.split())


def test_no_working_backend_exits_1_with_reasons(tmp_path: Path) -> None:
    shims = tmp_path / "shims"
    for package in ("torch", "mlx"):
        (shims / package).mkdir(parents=True)
        (shims / package / "__init__.py").write_text(f"raise ImportError('{package} is broken here')\n")
    env = pythonpath_env()
    env["PYTHONPATH"] = os.pathsep.join([str(shims), env["PYTHONPATH"]])
    completed = subprocess.run(
        [sys.executable, "-m", "qlora_check", "doctor", "--json", "--cache-dir", str(tmp_path / "cache")],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=600,
        check=False,
    )
    assert completed.returncode == 1, completed.stderr
    document = json.loads(completed.stdout)
    assert document["ok"] is False and document["working_backends"] == []
    assert document["backends"]["cpu"]["reason"] == "torch does not import: ImportError: torch is broken here"
    assert document["backends"]["mlx"]["reason"] == "mlx does not import: ImportError: mlx is broken here"
    assert document["probes"]["results"] == []


def test_plan_marks_cells_skip_with_the_cached_probe_error(tmp_path: Path) -> None:
    environment = cache.environment(nvidia_gpus())
    entry = cache.CacheEntry(cache.fingerprint_of(environment), environment)
    failure = ProbeResult(
        "cpu", "bnb", "error", "RuntimeError: no kernel for nf4", probed_at="2026-11-24T07:00:00+00:00"
    )
    entry.probes[failure.key] = failure
    cache.save(Path(os.environ[cache.CACHE_ENV]), entry)
    matrix = write_matrix(
        tmp_path, "version: 1\nname: q\naxes: {train_type: [qlora], quantizer: [bnb-nf4, hqq-4bit]}\n"
    )
    result = runner.invoke(app, ["plan", str(matrix), "--json"])
    assert result.exit_code == 0, result.output
    planned = {cell["values"]["quantizer"]: cell for cell in json.loads(result.stdout)["cells"]}
    assert planned["bnb-nf4"]["planned"] == "skip"
    assert planned["bnb-nf4"]["reason"].startswith(
        "doctor: the bnb probe fails on cpu: RuntimeError: no kernel for nf4"
    )
    assert planned["hqq-4bit"]["planned"] == "run"
