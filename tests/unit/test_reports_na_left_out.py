"""The report header says how many n/a combinations the plan left out, and why (run.json `planned`)."""

from __future__ import annotations

import json
from pathlib import Path

from qlora_check.reports import write_reports
from tests.unit.reports_support import SMOKE, copy_run

REASONS = {"qlora trains adapters on a quantized base, and quantizer is none": 3, "x <b>bold</b>": 1}


def _with_left_out(tmp_path: Path) -> Path:
    run_dir = copy_run(SMOKE, tmp_path)
    run_json = run_dir / "run.json"
    run = json.loads(run_json.read_text(encoding="utf-8"))
    run["planned"]["not_applicable_left_out"] = {"count": 4, "reasons": REASONS}
    run_json.write_text(json.dumps(run), encoding="utf-8")
    return run_dir


def test_html_and_markdown_headers_count_the_left_out_combinations_per_reason(tmp_path: Path) -> None:
    run_dir = _with_left_out(tmp_path)
    html_path, md_path = write_reports(run_dir, ["html", "md"])
    html = html_path.read_text(encoding="utf-8")
    assert 'id="na-left-out"' in html and "4 combinations, invalid by definition" in html
    assert "3 · qlora trains adapters on a quantized base, and quantizer is none" in html
    assert "<b>bold</b>" not in html, "reasons are escaped"
    markdown = md_path.read_text(encoding="utf-8")
    assert "4 n/a combinations left out of the plan (3: qlora trains adapters" in markdown


def test_a_run_without_left_out_combinations_shows_nothing_about_them(tmp_path: Path) -> None:
    (html_path,) = write_reports(copy_run(SMOKE, tmp_path), ["html"])
    assert "na-left-out" not in html_path.read_text(encoding="utf-8")
