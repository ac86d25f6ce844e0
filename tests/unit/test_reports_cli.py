"""`qlora-check report`: formats, the default run, user mistakes, and no torch import."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from qlora_check.cli import app
from qlora_check.results.store import point_latest
from tests.conftest import heavy_modules_imported_by
from tests.unit.reports_support import MIXED, SMOKE, copy_run

runner = CliRunner()
ALL = {"report.html", "report.json", "junit.xml", "summary.md"}


def _reports(run_dir: Path) -> set[str]:
    return {path.name for path in run_dir.iterdir()} & ALL


def test_report_writes_every_format_by_default(tmp_path: Path) -> None:
    run_dir = copy_run(MIXED, tmp_path)
    result = runner.invoke(app, ["report", str(run_dir)])
    assert result.exit_code == 0, result.output
    assert _reports(run_dir) == ALL
    assert str(run_dir / "report.html") in result.output


def test_report_writes_only_the_chosen_formats(tmp_path: Path) -> None:
    run_dir = copy_run(SMOKE, tmp_path)
    result = runner.invoke(app, ["report", str(run_dir), "--json", "--md"])
    assert result.exit_code == 0, result.output
    assert _reports(run_dir) == {"report.json", "summary.md"}


def test_report_defaults_to_the_latest_run_under_root(tmp_path: Path) -> None:
    root = tmp_path / "reports"
    run_dir = copy_run(SMOKE, root / "runs")
    point_latest(root, run_dir)
    result = runner.invoke(app, ["report", "--root", str(root), "--junit"])
    assert result.exit_code == 0, result.output
    assert _reports(run_dir) == {"junit.xml"}


def test_a_missing_or_broken_run_is_a_clear_error_with_exit_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["report", "--root", str(tmp_path)])
    assert result.exit_code == 2
    output = " ".join(result.output.split())  # Rich wraps long lines
    assert "latest: no such run directory" in output and "Tip: run `qlora-check run MATRIX` first" in output
    assert "Traceback" not in output
    (tmp_path / "empty").mkdir()
    result = runner.invoke(app, ["report", str(tmp_path / "empty")])
    assert result.exit_code == 2 and "not a run directory" in " ".join(result.output.split())


def test_report_does_not_import_torch_or_any_library_under_test(tmp_path: Path) -> None:
    run_dir = copy_run(MIXED, tmp_path)
    statements = f"from qlora_check.cli import app\napp(['report', {str(run_dir)!r}], standalone_mode=False)"
    assert heavy_modules_imported_by(statements) == []
    assert _reports(run_dir) == ALL
