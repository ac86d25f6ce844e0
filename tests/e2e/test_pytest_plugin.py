"""The pytest face: `pip install .` into a fresh venv, then `pytest --qlora-matrix` outside the repo gives one
item per cell with the outcome `qlora-check run` gives the same matrix; `pytest --co` imports no torch."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import MATRICES, REPO, copy_sources, heavy_modules_imported_by, write_matrix

# One cell per outcome: pass, n/a, skip (no CUDA here, or a run where there is), xfail, fail.
MATRIX = """\
version: 1
name: pytest-face
axes:
  backend: [cpu, cuda]
  train_type: [lora]
  steps: [30]
include:
  - {train_type: qlora, steps: 30}                 # n/a cells written by hand are recorded (n/a
  - {train_type: qlora, backend: cuda, steps: 30}  # combinations of the axes are left out of the plan)
  - {backend: cpu, train_type: lora, steps: 12, lr: 0.0}
  - {backend: cpu, train_type: lora, steps: 8, lr: 0.0}
expect:
  - match: {steps: 12}
    status: fail
    reason: nothing trains at learning rate 0
settings:
  timeout: 300
"""
PYTEST_OUTCOME = {"pass": "PASSED", "skip": "SKIPPED", "n/a": "SKIPPED", "xfail": "XFAIL", "fail": "FAILED"}
SMOKE, EXAMPLES = MATRICES / "smoke.yaml", REPO / "examples" / "pytest"
ITEM_LINE = re.compile(r"\b(PASSED|FAILED|SKIPPED|XFAIL|XPASS|ERROR)\s+(\S+)::([0-9a-f]{12})\b")


def test_pytest_collect_only_imports_no_heavy_library() -> None:
    statements = (
        "import pytest\n"
        f"arguments = ['--co', '-q', '-p', 'no:cacheprovider', '--qlora-matrix', {str(SMOKE)!r}, {str(EXAMPLES)!r}]\n"
        "code = pytest.main(arguments)\n"
        "assert code == 0, code\n"
    )
    # Finding optimum.quanto's spec imports the empty `optimum` namespace package, not quanto itself.
    assert heavy_modules_imported_by(statements, ignore=frozenset({"optimum"})) == []


def _venv_with_qlora_check(directory: Path) -> Path:
    """A fresh venv (seeing this interpreter's packages, so torch is not installed again) with a copy of this
    checkout `pip install`ed into it, not editable. The copy keeps the build out of the working tree; this
    interpreter's pip installs into the venv (``--python``) with its setuptools, so no index is needed."""
    source = directory.parent / "source"
    copy_sources(source, symlinks=False)
    venv = [sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(directory)]
    subprocess.run(venv, check=True, timeout=300)
    python = directory / "bin" / "python"
    install = [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
               "--no-build-isolation", str(source)]  # fmt: skip
    completed = subprocess.run(install, capture_output=True, text=True, timeout=600, check=False, cwd=directory.parent)
    assert completed.returncode == 0, completed.stderr[-2000:]
    return python


def _outside_env(cache: Path) -> dict[str, str]:
    """No PYTHONPATH (the installed copy must be the one imported), one thread per cell, a private doctor cache."""
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PYTEST_ADDOPTS")}
    env.update(OMP_NUM_THREADS="1", QLORA_CHECK_CACHE_DIR=str(cache))
    return env


@pytest.mark.slow
def test_installed_plugin_gives_one_item_per_cell_with_the_outcome_of_qlora_check_run(tmp_path: Path) -> None:
    python = _venv_with_qlora_check(tmp_path / "venv")
    work = tmp_path / "outside"
    work.mkdir()
    matrix = write_matrix(work, MATRIX, "face.yaml")
    env = _outside_env(tmp_path / "doctor-cache")

    where = subprocess.run(
        [str(python), "-c", "import qlora_check, sys; print(qlora_check.__file__)"],
        capture_output=True, text=True, cwd=work, env=env, timeout=120, check=True,
    )  # fmt: skip
    assert where.stdout.strip().startswith(str(tmp_path / "venv")), where.stdout

    tested = subprocess.run(
        [str(python), "-m", "pytest", "--qlora-matrix", str(matrix), "-v", "-n", "2", "-p", "no:cacheprovider"],
        capture_output=True, text=True, cwd=work, env=env, timeout=900, check=False,
    )  # fmt: skip
    outcomes = {match[2]: match[0] for match in ITEM_LINE.findall(tested.stdout)}
    assert tested.returncode == 1, tested.stdout[-3000:]  # the fail cell fails the session, as it fails the run

    run_dir = tmp_path / "run"
    ran = subprocess.run(
        [str(python), "-m", "qlora_check", "run", str(matrix), "--out", str(run_dir), "--root", str(tmp_path)],
        capture_output=True, text=True, cwd=work, env=env, timeout=900, check=False,
    )  # fmt: skip
    assert ran.returncode == 1, ran.stdout[-3000:] + ran.stderr[-3000:]
    results = [json.loads(line) for line in (run_dir / "results.jsonl").read_text().splitlines() if line.strip()]
    statuses = {result["cell_id"]: result["status"] for result in results}

    assert len(statuses) == 6 and set(outcomes) == set(statuses), (outcomes, statuses)
    assert outcomes == {cell: PYTEST_OUTCOME[status] for cell, status in statuses.items()}, (outcomes, statuses)
    assert sorted(statuses.values()).count("n/a") == 2 and {"pass", "xfail", "fail"} <= set(statuses.values())
    failed = next(cell for cell, status in statuses.items() if status == "fail")
    assert f"face.yaml::{failed}" in tested.stdout
    assert "check learned failed: mean loss went from" in tested.stdout and "relative_drop=" in tested.stdout
