"""summary.md: counts, failing cells with reasons, the evidence table; results text escaped."""

from __future__ import annotations

from pathlib import Path

from qlora_check.reports import write_reports
from qlora_check.reports.markdown import md_escape
from tests.unit.reports_support import HOSTILE, MIXED, SMOKE, copy_run


def _summary(run_dir: Path) -> str:
    (path,) = write_reports(run_dir, ["md"])
    return path.read_text(encoding="utf-8")


def test_summary_lists_counts_failing_cells_and_evidence(tmp_path: Path) -> None:
    text = _summary(copy_run(MIXED, tmp_path))
    assert "## qlora-check: report-fixture" in text
    assert "| E error | 4 |" in text and "| · n/a | 7 |" in text and "| ☠ crash | 1 |" in text
    assert "### Failing cells (7)" in text
    assert (
        "| ☠ crash | cpu/none/custom\\_lora/fp32/adamw/constant steps=12 inject=segfault | killed by SIGSEGV |" in text
    )
    assert "learned: mean loss went from 5.743 to 4.648" in text
    assert "| none | 🟡 1/4 |  |" in text
    assert "| bnb-nf4 | 🔴 0/1 |  |" in text
    assert "Verified on 2026-11-24 with torch 2.13" in text


def test_summary_escapes_html_and_table_syntax_from_results(tmp_path: Path) -> None:
    text = _summary(copy_run(MIXED, tmp_path))
    assert HOSTILE not in text and "<script>" not in text and "<img" not in text
    assert "&lt;img src=x onerror=alert(1)&gt;&lt;script&gt;alert(2)&lt;/script&gt;" in text
    assert md_escape("a | b\nc <b>") == "a \\| b c &lt;b&gt;"
    for line in text.splitlines():
        if line.startswith("| "):
            assert line.endswith("|")


def test_all_pass_summary_says_none_failed(tmp_path: Path) -> None:
    text = _summary(copy_run(SMOKE, tmp_path))
    assert "### Failing cells (0)\n\nNone." in text
    assert "| none | 🟢 8/8 |" in text
