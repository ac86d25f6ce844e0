"""A fresh real run writes all four reports at its end, and they agree with its results."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from junitparser import JUnitXml

from qlora_check.reports.json_report import report_schema
from tests.conftest import REPO, pythonpath_env, write_matrix

MATRIX = """
version: 1
name: fresh
axes:
  backend: [cpu, cuda]
  train_type: [lora]
  steps: 12
include:
  - {train_type: dora, inject: raise, steps: 12}
  - {train_type: qlora, steps: 12}                 # n/a cells written by hand are recorded (n/a
  - {train_type: qlora, backend: cuda, steps: 12}  # combinations of the axes would be left out)
"""


@pytest.mark.slow
def test_run_writes_reports_at_the_end(tmp_path: Path, reports_root: Path) -> None:
    matrix = write_matrix(tmp_path, MATRIX)
    run_dir = tmp_path / "run"
    command = [sys.executable, "-m", "qlora_check", "run", str(matrix), "--out", str(run_dir)]
    completed = subprocess.run(
        [*command, "--jobs", "1", "--root", str(reports_root)],
        capture_output=True,
        text=True,
        env=pythonpath_env(),
        cwd=REPO,
        timeout=600,
        check=False,
    )
    assert completed.returncode == 1, completed.stdout + completed.stderr  # the injected error fails the run
    assert "reports were not written" not in completed.stdout
    document = json.loads((run_dir / "report.json").read_text(encoding="utf-8"))
    jsonschema.validate(document, report_schema(), cls=jsonschema.Draft202012Validator)
    statuses = sorted(cell["status"] for cell in document["cells"])
    assert statuses == ["error", "n/a", "n/a", "pass", "skip"]
    (suite,) = list(JUnitXml.fromfile(str(run_dir / "junit.xml")))
    assert (suite.tests, suite.failures, suite.errors, suite.skipped) == (5, 0, 1, 3)
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    assert "fresh" in html and 'data-status="pass"' in html
    assert "| E error | 1 |" in (run_dir / "summary.md").read_text(encoding="utf-8")
    assert (reports_root / "latest" / "report.html").exists()
