"""History over recorded runs (copies of tests/fixtures/runs/ made into a few nights): the grid, the
failing cells' last pass and environment diff, run order, escaping, and the CLI without torch."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qlora_check.cli import app
from qlora_check.errors import ResultsError
from qlora_check.reports.history import History, load_history
from qlora_check.reports.history_html import render_history, sparkline
from tests.conftest import heavy_modules_imported_by
from tests.unit.reports_support import (
    HOSTILE,
    MIXED,
    NIGHTS_ERROR_CELL,
    NIGHTS_FAIL_CELL,
    NIGHTS_NA_CELL,
    NIGHTS_PASS_CELL,
    SMOKE,
    edited_run,
    recorded_nights,
)

runner = CliRunner()
PASS_CELL, FAIL_CELL, ERROR_CELL, NA_CELL = NIGHTS_PASS_CELL, NIGHTS_FAIL_CELL, NIGHTS_ERROR_CELL, NIGHTS_NA_CELL
HOSTILE_CELL = "d73da44163cd"


class Grid(HTMLParser):
    """The statuses history.html shows: cell id -> one data-status per run ('' where absent)."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, list[str]] = {}
        self.failing: dict[str, dict[str, str]] = {}
        self._row: str | None = None
        self._failing_row: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        classes = a.get("class", "").split()
        if tag == "tr" and "cell-row" in classes:
            self._row = a["data-cell-id"]
            self.rows[self._row] = []
        elif tag == "tr" and "failing-row" in classes:
            self._failing_row = a["data-cell-id"]
            self.failing[self._failing_row] = {}
        elif tag == "td" and "h" in classes and self._row:
            self.rows[self._row].append(a["data-status"])
        elif tag == "td" and self._failing_row and "data-run" in a:
            self.failing[self._failing_row][classes[0]] = a["data-run"]
        elif tag == "li" and self._failing_row and "data-name" in a:
            self.failing[self._failing_row].setdefault("env", "")
            self.failing[self._failing_row]["env"] += a["data-name"] + ";"

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr":
            self._row = self._failing_row = None


def parse(html: str) -> Grid:
    grid = Grid()
    grid.feed(html)
    return grid


@pytest.fixture
def nights(tmp_path: Path) -> Path:
    return recorded_nights(tmp_path)


def test_grid_has_each_cell_status_per_run_oldest_first(nights: Path) -> None:
    history = load_history(nights)
    assert [run.run_id for run in history.runs] == ["d-night1", "c-night2", "b-night3", "a-night4"]
    grid = parse(render_history(history, nights / "history.html")).rows
    assert len(grid) == 19
    assert grid[PASS_CELL] == ["pass", "pass", "fail", "error"]
    assert grid[FAIL_CELL] == ["fail", "fail", "fail", "xpass"]
    assert grid[ERROR_CELL] == ["error", "error", "error", "pass"]
    assert grid[NA_CELL] == ["n/a", "n/a", "", "n/a"]  # absent from night 3
    assert grid[HOSTILE_CELL] == ["error"] * 4


def test_failing_cells_know_their_last_pass_and_what_changed_since(nights: Path) -> None:
    history = load_history(nights)
    failing = {f.cell.cell_id: f for f in history.failing}
    assert PASS_CELL in failing and FAIL_CELL not in failing and ERROR_CELL not in failing
    regressed = failing[PASS_CELL]
    assert (regressed.last_passed, regressed.failing_since) == (1, 2)  # passed in night 2, failing since night 3
    assert regressed.environment == {
        "peft": {"before": "0.21.2", "after": "0.22.0"},
        "torch": {"before": "2.13.0+cpu", "after": "2.14.0+cpu"},
    }
    never = failing[HOSTILE_CELL]
    assert (never.last_passed, never.failing_since, never.environment) == (None, 0, {})
    shown = parse(render_history(history, nights / "history.html")).failing
    assert shown[PASS_CELL] == {"since": "b-night3", "last-passed": "c-night2", "env": "peft;torch;"}
    assert shown[HOSTILE_CELL]["last-passed"] == ""


def test_last_n_runs_and_sparklines(nights: Path) -> None:
    history = load_history(nights, last=2)
    assert [run.run_id for run in history.runs] == ["b-night3", "a-night4"]
    regressed = next(f for f in history.failing if f.cell.cell_id == PASS_CELL)
    assert regressed.last_passed is None  # its last pass (night 2) is outside the window
    memory = next(c for c in load_history(nights).cells if c.cell_id == PASS_CELL).series("peak_mb")
    assert memory == [53.688, 40.0, 53.688, 53.688]
    line = sparkline(memory, "peak MiB")
    assert line is not None and line.path.count("M") == 1 and line.path.count("L") == 3
    assert sparkline([None, 5.0, None, 6.0], "x").path.count("M") == 2  # type: ignore[union-attr]  # gaps break the line
    assert sparkline([None, None], "x") is None


def test_history_escapes_text_from_runs(nights: Path, tmp_path: Path) -> None:
    night = nights / "runs" / "a-night4"
    run = json.loads((night / "run.json").read_text())
    run["host"]["hostname"] = HOSTILE
    (night / "run.json").write_text(json.dumps(run))
    html = render_history(load_history(nights), nights / "history.html")
    assert HOSTILE not in html and "<script>alert" not in html and "<img" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;&lt;script&gt;alert(2)&lt;/script&gt;" in html
    assert "learned: &lt;b&gt;no&lt;/b&gt;" in html  # a reason, in a title attribute
    assert "<script" not in html and "script-src" not in html and "default-src 'none'" in html


def test_runs_in_the_wrong_shape_are_skipped_with_a_warning(nights: Path) -> None:
    newer = nights / "runs" / "e-newer"
    newer.mkdir()
    (newer / "run.json").write_text(json.dumps({"schema_version": 99, "run_id": "x"}))
    (nights / "runs" / "not-a-run").mkdir()
    history = load_history(nights)
    assert len(history.runs) == 4
    assert any("e-newer" in w and "newer" in w for w in history.warnings)
    empty = nights.parent / "empty"
    (empty / "runs").mkdir(parents=True)
    with pytest.raises(ResultsError, match="no runs found"):
        load_history(empty)


def test_cli_writes_root_history_html_and_exits_2_without_runs(nights: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["history", str(nights)])
    assert result.exit_code == 0, result.output
    assert "4 runs, 19 cells, 6 failing now" in result.output
    assert (nights / "history.html").is_file()
    out = tmp_path / "elsewhere" / "h.html"
    result = runner.invoke(app, ["history", str(nights), "--last", "3", "--out", str(out)])
    assert result.exit_code == 0 and len(parse(out.read_text()).rows[PASS_CELL]) == 3
    missing = runner.invoke(app, ["history", str(tmp_path / "nothing")])
    assert missing.exit_code == 2 and "no such directory" in missing.output


def test_run_links_are_relative_to_the_page(nights: Path, tmp_path: Path) -> None:
    from qlora_check.reports import write_reports

    write_reports(nights / "runs" / "a-night4", ["html"])
    html = render_history(load_history(nights), nights / "history.html")
    assert 'href="./runs/a-night4/report.html"' in html
    assert html.count("report.html") == 1  # only runs with a report are linked
    elsewhere = render_history(load_history(nights), tmp_path / "x" / "history.html")
    assert 'href="./../reports/runs/a-night4/report.html"' in elsewhere


def test_smoke_and_mixed_runs_of_different_matrices_share_one_grid(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    edited_run(SMOKE, runs, "smoke", started_at="2026-11-20T07:00:00+00:00")
    edited_run(MIXED, runs, "mixed", started_at="2026-11-21T07:00:00+00:00")
    history: History = load_history(tmp_path)
    assert len(history.cells) == 8 + 19
    only_smoke = [c for c in history.cells if c.marks[1] is None]
    assert len(only_smoke) == 8 and all(c.marks[0] is not None for c in only_smoke)
    assert not any(f.cell in only_smoke for f in history.failing)  # not in the newest run: not failing now


def test_history_does_not_import_torch(nights: Path) -> None:
    statements = f"from qlora_check.cli import app\napp(['history', {str(nights)!r}], standalone_mode=False)"
    assert heavy_modules_imported_by(statements) == []
    assert (nights / "history.html").is_file()
