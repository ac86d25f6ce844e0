"""`run --ray auto` on one machine: a local head started for the run, the same statuses as a local run.

The cells train on the MLX backend (mlx[cpu]) for 4 steps: a real LoRA cell that learns, cheap enough that
the test's time is the two runs' start-up (a fork server locally, a fresh Ray head), not training.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from qlora_check.results.store import read_results
from tests.conftest import REPO, pythonpath_env, write_matrix
from tests.e2e.ray_support import doctor_document, ray_environment

pytest.importorskip("ray")

MATRIX = """
version: 1
name: auto
axes:
  backend: [mlx]
  quantizer: [none]
  train_type: [lora]
  inject: [none, raise]
  steps: 4
include:
  - {backend: cuda, quantizer: none, train_type: lora, inject: none}
  - {train_type: qlora, inject: none}   # n/a cells written by hand are recorded (n/a combinations
  - {train_type: qlora, inject: raise}  # of the axes are left out of the plan)
settings:
  timeout: 300
"""


def start_cli(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "qlora_check", "run", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=REPO,
        env=env,
    )


def finish(process: subprocess.Popen[str]) -> tuple[int, str]:
    output, _ = process.communicate(timeout=600)
    return process.returncode, output


def statuses(run_dir: Path) -> dict[str, str]:
    return {cell_id: result.status.value for cell_id, result in read_results(run_dir).final().items()}


def processes_under(directory: Path) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter():
        try:
            if any(str(directory) in part for part in process.cmdline()):
                found.append(process)
        except psutil.Error:
            continue
    return found


def test_ray_auto_and_a_local_run_give_the_same_statuses_cell_for_cell(tmp_path: Path) -> None:
    matrix = write_matrix(tmp_path, MATRIX)
    # This host's plain verdicts (the doctor's shape): a head started by `--ray auto` offers what it says.
    doctor = tmp_path / "doctor.json"
    doctor.write_text(json.dumps(doctor_document(socket.gethostname(), backends=["cpu", "mlx"])))
    # The two runs go side by side (they share nothing but the machine), so the test costs the slower one.
    local = start_cli(str(matrix), "--root", str(tmp_path / "local"), env=pythonpath_env())
    with ray_environment() as ray_tmp:
        on_ray = start_cli(
            str(matrix),
            "--root",
            str(tmp_path / "ray"),
            "--ray",
            "auto",
            "--doctor-json",
            str(doctor),
            env={**pythonpath_env(), **{k: os.environ[k] for k in ("RAY_TMPDIR", "RAY_AUTH_MODE")}},
        )
        ray_code, ray_output = finish(on_ray)
        leftovers = processes_under(ray_tmp)
    local_code, local_output = finish(local)
    assert local_code == 1, local_output  # the injected fault fails the run
    assert ray_code == 1, ray_output
    assert leftovers == []  # the head started for the run was shut down with it
    local_statuses, ray_statuses = statuses(tmp_path / "local" / "latest"), statuses(tmp_path / "ray" / "latest")
    assert ray_statuses == local_statuses
    assert sorted(local_statuses.values()) == ["error", "n/a", "n/a", "pass", "skip"]  # a real cell trained
    ray_results = read_results(tmp_path / "ray" / "latest").final().values()
    ran = [result for result in ray_results if result.status.value in ("pass", "error")]
    assert all((result.node or {}).get("host") == socket.gethostname() for result in ran)
