"""A quantizer family from another package, found through its entry point, seen by `plan` and `run`.

The plugin (tests/plugins/toyq) is a real, if simple, quantizer: int8 weights of the decoder blocks. It is
put on the path as an installed distribution would be (a dist-info with an entry point); qlora-check's own
code never names it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, pythonpath_env, write_matrix

pytestmark = pytest.mark.slow
PLUGIN = REPO / "tests" / "plugins" / "toyq"
MATRIX = """\
version: 1
name: plugin family
axes:
  quantizer: [toyq-8bit]
  train_type: [custom_qlora, qlora]
  steps: [20]
"""


def with_plugin() -> dict[str, str]:
    env = pythonpath_env()
    env["PYTHONPATH"] = os.pathsep.join([str(PLUGIN), env["PYTHONPATH"]])
    return env


def qlora_check(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "qlora_check", *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=REPO, env=env, timeout=900, check=False)


def test_an_entry_point_family_is_planned_and_its_cells_really_run(tmp_path: Path) -> None:
    matrix = write_matrix(tmp_path, MATRIX)
    planned = qlora_check("plan", str(matrix), "--json", "--show-na", env=with_plugin())
    assert planned.returncode == 0, planned.stderr
    document = json.loads(planned.stdout)
    cells = {cell["values"]["train_type"]: cell for cell in document["cells"]}
    assert list(cells) == ["custom_qlora"] and cells["custom_qlora"]["planned"] == "run"
    (left_out,) = document["not_applicable"]["cells"]  # n/a by the plugin's own rule: left out, with its reason
    assert left_out["values"]["train_type"] == "qlora" and "toyq does not pair with qlora" in left_out["reason"]

    out = tmp_path / "run"
    ran = qlora_check("run", str(matrix), "--out", str(out), "--root", str(tmp_path), "--jobs", "1", env=with_plugin())
    assert ran.returncode == 0, ran.stdout + ran.stderr
    results = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    ran_cell = next(result for result in results if result["values"]["train_type"] == "custom_qlora")
    assert ran_cell["status"] == "pass", ran_cell["reason"]
    checks = {check["name"]: check for check in ran_cell["checks"]}
    assert checks["quantized"]["passed"] and checks["quantized"]["figures"]["modules"] == 14  # 7 Linears x 2 blocks
    assert checks["learned"]["passed"] and checks["frozen_base"]["passed"]
    assert ran_cell["engine"]["quantization"]["library"] == "qlora-check-toyq"


def test_without_the_plugin_its_values_are_unknown_with_a_clear_line(tmp_path: Path) -> None:
    matrix = write_matrix(tmp_path, MATRIX)
    planned = qlora_check("plan", str(matrix), env=pythonpath_env())
    assert planned.returncode == 2
    assert "unknown quantizer value 'toyq-8bit'" in planned.stderr and "Traceback" not in planned.stderr
