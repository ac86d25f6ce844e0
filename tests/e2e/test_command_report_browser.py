"""A command runner's cell in report.html: the drill-down shows the filled argv, env names (no values) and
what the reader found."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from qlora_check.execution.run import RunOptions
from tests.conftest import REPO, run_and_report, write_matrix
from tests.e2e.conftest import CHROMIUM

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
]
pytest.importorskip("playwright.sync_api", reason="needs playwright (pip install playwright)")

SECRET = "secret-env-value-91c2"
MATRIX = f"""version: 1
name: argv-report
runners:
  scripted:
    command: ["{{python}}", "{REPO / 'tests' / 'matrices' / 'argv_trainer.py'}", "{{steps}}", "--name", "{{dataset}}"]
    env: {{QC_TOKEN: {SECRET}}}
axes:
  runner: scripted
  dataset: "it's; rm -rf x"
  steps: 8
"""


def test_the_drill_down_shows_argv_env_names_and_the_reader(browser: Any, tmp_path: Path, reports_root: Path) -> None:
    matrix = write_matrix(tmp_path, MATRIX)
    outcome = run_and_report(RunOptions(matrix_path=matrix, root=reports_root, out=tmp_path / "run"))
    result = next(iter(outcome.results.values()))
    assert result.status.value == "pass", result.reason
    page = browser.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto((outcome.run_dir / "report.html").as_uri())
    page.wait_for_selector("#pivot tbody tr")
    page.click("#pivot .entry")  # the one cell's square
    if page.locator("#details .group-list").count():  # a square of several cells lists them first
        page.click(f"#details .group-list button[data-cell-id='{result.cell_id}']")
    details = page.locator("#details").inner_text()
    assert "Command (runner scripted)".lower() in details.lower()
    assert "--name 'it'\"'\"'s; rm -rf x'" in details  # the argv as one quoted element, ready to paste
    assert "QC_TOKEN" in details and "QLORA_CHECK_METRICS" in details and SECRET not in details
    assert "reader jsonl read metrics.jsonl, 8 matches" in details
    assert "lr_schedule" in details and "not checked: the runner declares no schedule" in details
    assert problems == []
    page.close()
    for path in outcome.run_dir.rglob("*"):
        if path.is_file():
            assert SECRET not in path.read_text(errors="replace"), path
    assert json.loads((outcome.run_dir / "run.json").read_text())["matrix"]["runners"]["scripted"]["env"] == {
        "QC_TOKEN": "<not stored>"
    }
