"""History and the report's comparison on real runs: three nights of a tiny matrix through the real CLI,
the third forced to regress (learned_margin 0.99: the same cells fail the learned check)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from qlora_check.reports.history import load_history
from qlora_check.reports.json_report import report_schema
from qlora_check.reports.md_text import md_escape
from qlora_check.results.store import read_results
from tests.conftest import pythonpath_env, write_matrix
from tests.unit.test_reports_history import parse

pytestmark = pytest.mark.slow

# Three cells: lora and full really run (16 steps); qlora with no quantizer is n/a, recorded at once (an
# include cell of its own: n/a combinations of the axes would be left out of the plan).
MATRIX = (
    "version: 1\nname: history\naxes: {backend: [cpu], train_type: [lora, full], steps: 16}\n"
    "include: [{train_type: qlora, steps: 16}]\n"
)
STRICT = MATRIX + "settings: {learned_margin: 0.99}\n"


def qlora_check(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "qlora_check", *args],
        capture_output=True,
        text=True,
        env=pythonpath_env(),
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def nights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("history") / "reports"
    matrix = write_matrix(root.parent, MATRIX)
    strict = write_matrix(root.parent, STRICT, "strict.yaml")
    for path, expected in ((matrix, 0), (matrix, 0), (strict, 1)):
        args = ["run", str(path), "--root", str(root), "--jobs", "2", "--compare-to", "latest"]
        completed = qlora_check(*args)
        assert completed.returncode == expected, completed.stdout + completed.stderr
    return root


def by_train_type(run_dir: Path) -> dict[str, str]:
    return {r.values["train_type"]: r.cell_id for r in read_results(run_dir).final().values()}


def test_history_grid_last_pass_and_environment_of_real_runs(nights: Path) -> None:
    completed = qlora_check("history", str(nights))
    assert completed.returncode == 0, completed.stderr
    assert "3 runs, 3 cells, 2 failing now" in completed.stdout
    history = load_history(nights)
    runs = [run.run_dir for run in history.runs]
    assert runs == sorted((nights / "runs").iterdir())  # three runs, in the order they ran
    ids = by_train_type(runs[0])
    assert by_train_type(runs[2]) == ids  # the setting changed, the cell ids did not
    grid = parse((nights / "history.html").read_text()).rows
    assert grid[ids["lora"]] == grid[ids["full"]] == ["pass", "pass", "fail"]
    assert grid[ids["qlora"]] == ["n/a"] * 3
    failing = {f.cell.cell_id: f for f in history.failing}
    assert set(failing) == {ids["lora"], ids["full"]}
    for cell in failing.values():
        assert (cell.last_passed, cell.failing_since) == (1, 2)
        assert cell.environment == {}  # same host, same libraries: nothing to blame but the matrix
        assert "learned" in cell.cell.now.reason  # type: ignore[union-attr]
    memory = history.cells[0].series("peak_mb")
    assert len(memory) == 3 and all(m is not None and m > 0 for m in memory)


def test_history_names_the_library_that_changed_since_the_last_pass(nights: Path, tmp_path: Path) -> None:
    root = tmp_path / "reports"
    shutil.copytree(nights, root, symlinks=True)
    newest = sorted((root / "runs").iterdir())[-1] / "run.json"
    run = json.loads(newest.read_text())
    torch_before = run["host"]["libraries"]["torch"]
    run["host"]["libraries"]["torch"] = "9.9.9"  # as if the failing night had upgraded torch
    newest.write_text(json.dumps(run))
    assert qlora_check("history", str(root), "--out", str(tmp_path / "h.html")).returncode == 0
    shown = parse((tmp_path / "h.html").read_text()).failing
    assert len(shown) == 2 and all(row["env"] == "torch;" for row in shown.values())
    assert f"torch: {torch_before} → 9.9.9" in (tmp_path / "h.html").read_text()


def test_the_regressed_run_reports_its_changes_since_the_run_before(nights: Path) -> None:
    first, second, third = sorted((nights / "runs").iterdir())
    assert not (first / "comparison.json").exists()  # nothing to compare the first night with
    calm = json.loads((second / "comparison.json").read_text())  # two runs of the same matrix
    assert calm["cells_compared"] == 3 and calm["counts"]["regression"] == calm["counts"]["fix"] == 0
    html = (third / "report.html").read_text()
    section = html.split('id="changes"', 1)[1].split("</section>", 1)[0]
    assert f"Changes since {second.name}" in section
    regressions = section.split('data-kind="regression"', 1)[1].split("</div>", 1)[0]
    ids = by_train_type(third)
    assert f'data-cell-id="{ids["lora"]}"' in regressions and f'data-cell-id="{ids["full"]}"' in regressions
    assert regressions.count("pass → fail: learned:") == 2
    summary = (third / "summary.md").read_text()
    assert f"### Changes since {md_escape(second.name)}" in summary
    assert "#### Regressions (newly failing)" in summary
    document = json.loads((third / "report.json").read_text())
    jsonschema.validate(document, report_schema(), cls=jsonschema.Draft202012Validator)
    assert document["comparison"]["counts"]["regression"] == 2
    assert Path(document["comparison"]["run_a"]) == second.resolve()
