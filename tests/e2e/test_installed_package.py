"""`pip install .` (not editable) into a fresh virtualenv, then `qlora-check run` with no argument, outside the clone.

The virtualenv sees the system's site-packages (torch, transformers, ... are not installed twice), but
qlora_check itself must come from the venv's own copy: the test checks where it is imported from, that the
bundled matrices are real files there, and that the installed command passes the bundled smoke matrix.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import MATRICES, copy_sources

pytestmark = pytest.mark.slow



def _clean_env(venv: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(venv)
    return env


def test_an_installed_copy_runs_the_bundled_smoke_matrix_from_anywhere(tmp_path: Path) -> None:
    source = tmp_path / "source"
    copy_sources(source)
    venv = tmp_path / "venv"
    # Without its own pip: the venv's interpreter then runs the system's pip and setuptools (a venv's bundled
    # setuptools can be too old to build this project offline), and installs into the venv all the same.
    make_venv = [sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)]
    subprocess.run(make_venv, check=True, timeout=300)
    python = venv / "bin" / "python"
    env = _clean_env(venv)
    install = [str(python), "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index", str(source)]
    installed = subprocess.run(install, capture_output=True, text=True, env=env, timeout=600, check=False)
    assert installed.returncode == 0, installed.stdout + installed.stderr

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    probe = (
        "import json, qlora_check; from qlora_check.matrix.bundled import bundled_dir;"
        "print(json.dumps({'module': qlora_check.__file__, 'matrices': str(bundled_dir())}))"
    )
    where = subprocess.run(
        [str(python), "-c", probe], capture_output=True, text=True, env=env, cwd=elsewhere, timeout=120, check=True
    )
    found = json.loads(where.stdout)
    assert Path(found["module"]).is_relative_to(venv), f"qlora_check imported from {found['module']}, not the venv"
    packaged = Path(found["matrices"])
    assert packaged.is_relative_to(venv) and not packaged.is_symlink()
    for matrix in MATRICES.glob("*.yaml"):
        copy = packaged / matrix.name
        assert not copy.is_symlink() and copy.read_bytes() == matrix.read_bytes()

    command = venv / "bin" / "qlora-check"
    run = subprocess.run(
        [str(command), "run", "--jobs", "2"], capture_output=True, text=True, env=env, cwd=elsewhere, timeout=900
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    (run_dir,) = (elsewhere / "reports" / "runs").iterdir()
    document = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    assert document["matrix"]["name"] == "smoke"
    assert Path(document["matrix"]["path"]).is_relative_to(venv), "the bundled copy ran, not the clone's"
    statuses = [json.loads(line)["status"] for line in (run_dir / "results.jsonl").read_text().splitlines()]
    assert statuses and set(statuses) == {"pass"}, statuses
