"""The comparison a run carries (comparison.json) in report.html, report.json and summary.md, and xpass
cells called out in every report even without a comparison."""

from __future__ import annotations

import json
import math
from pathlib import Path

import jsonschema
import pytest

from qlora_check.reports import write_reports
from qlora_check.reports.compare import compare_runs
from qlora_check.reports.finish import write_comparison
from qlora_check.reports.json_report import report_schema
from qlora_check.reports.model import load_report
from tests.unit.reports_support import HOSTILE, MIXED, edited_run

PASS_CELL = "940df7f2a4fc"
FAIL_CELL = "cad34d2017d3"
ERROR_CELL = "e3ed61fe3cf5"
NA_CELL = "3b131cdeb476"
HOSTILE_CELL = "d73da44163cd"
XPASS = {"status": "fail", "reason": "known <i>bug</i>", "link": "javascript:alert(1)", "strict": False}


@pytest.fixture
def compared(tmp_path: Path) -> Path:
    """Night 2 of the mixed matrix compared with night 1: one regression, a fix, an xpass ('fixed
    upstream?'), the hostile cell's status change, a cell removed, torch upgraded."""
    before = edited_run(MIXED, tmp_path, "night-1")
    after = edited_run(
        MIXED,
        tmp_path,
        "night-2",
        started_at="2026-11-25T07:06:48+00:00",
        libraries={"torch": "2.14.0+cpu"},
        cells={
            PASS_CELL: {"status": "fail", "reason": "learned: <b>no</b>"},
            FAIL_CELL: {"status": "xpass", "reason": "passed; expected fail", "expected": XPASS},
            ERROR_CELL: {"status": "pass", "reason": ""},
            HOSTILE_CELL: {"status": "fail"},
        },
        drop=(NA_CELL,),
    )
    write_comparison(compare_runs(before, after), after)
    write_reports(after)
    return after


def _section(html: str, start: str, end: str) -> str:
    return html.split(start, 1)[1].split(end, 1)[0]


def test_report_html_shows_changes_since_the_baseline_regressions_first(compared: Path) -> None:
    html = (compared / "report.html").read_text()
    section = _section(html, '<section class="panel changes" id="changes">', "</section>")
    assert "Changes since night-1" in section
    kinds = [part.split('"', 1)[0] for part in section.split('data-kind="')[1:]]
    assert kinds == ["regression", "fix", "status", "removed", "environment"]
    assert '<div class="change-group change-bad" data-kind="regression">' in section  # red
    regression = _section(section, 'data-kind="regression"', "</div>")
    assert f'data-open-cell="{PASS_CELL}"' in regression and "pass → fail: learned: &lt;b&gt;no&lt;/b&gt;" in regression
    fixes = _section(section, 'data-kind="fix"', "</div>").split('<tr class="change-row"')[1:]
    upstream = [row for row in fixes if "fixed upstream?" in row]
    assert len(fixes) == 2 and len(upstream) == 1  # the xpass is called out, the plain fix is not
    assert f'data-cell-id="{FAIL_CELL}"' in upstream[0] and "fail → xpass" in upstream[0]
    environment = _section(section, 'data-kind="environment"', "</div>")
    assert "<th>torch</th><td>2.13.0+cpu</td><td>2.14.0+cpu</td>" in environment
    summary = _section(html, 'id="changes-summary"', "</p>")
    assert "1 regression" in summary and "2 fix" in summary and "1 environment" in summary


def test_report_html_escapes_the_comparison_and_drops_unsafe_links(compared: Path) -> None:
    html = (compared / "report.html").read_text()
    assert HOSTILE not in html and "<b>no</b>" not in html and "<i>bug</i>" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;&lt;script&gt;alert(2)&lt;/script&gt;" in html
    assert "javascript:" not in html.lower()  # the expect rule's link is not a web address: no link


def test_xpass_is_called_out_in_the_header_without_a_comparison(tmp_path: Path) -> None:
    link = "https://github.com/example/bug/1"
    run_dir = edited_run(
        MIXED, tmp_path, "alone", cells={FAIL_CELL: {"status": "xpass", "expected": {**XPASS, "link": link}}}
    )
    write_reports(run_dir)
    html = (run_dir / "report.html").read_text()
    banner = _section(html, '<div class="xpass-banner" id="xpass" role="note">', "</div>")
    assert "1 cell passes although an expect rule says it fails (xpass): fixed upstream?" in banner
    assert f'data-open-cell="{FAIL_CELL}"' in banner and f'href="{link}"' in banner
    assert 'id="changes"' not in html
    summary = (run_dir / "summary.md").read_text()
    assert "### ! Passing although expected to fail: fixed upstream? (1)" in summary
    assert "| cpu/none/lora/fp32/adamw/cosine steps=12 | fail | known &lt;i&gt;bug&lt;/i&gt; |" in summary
    assert "Changes since" not in summary
    assert json.loads((run_dir / "report.json").read_text())["comparison"] is None


def test_summary_md_includes_the_comparison_escaped(compared: Path) -> None:
    summary = (compared / "summary.md").read_text()
    changes = _section(summary, "### Changes since night-1", "### Failing cells")
    assert changes.index("#### Regressions (newly failing)") < changes.index("#### Fixes (newly passing)")
    assert f"`{PASS_CELL}` | pass → fail: learned: &lt;b&gt;no&lt;/b&gt; |" in changes
    assert "| torch | 2.13.0+cpu | 2.14.0+cpu |" in changes
    assert "<img" not in summary and "&lt;img src=x" in changes


def test_report_json_carries_the_comparison_and_validates(compared: Path) -> None:
    document = json.loads((compared / "report.json").read_text())
    jsonschema.validate(document, report_schema(), cls=jsonschema.Draft202012Validator)
    comparison = document["comparison"]
    assert comparison["counts"]["regression"] == 1 and comparison["counts"]["removed"] == 1
    assert comparison["environment"] == {"torch": {"before": "2.13.0+cpu", "after": "2.14.0+cpu"}}
    assert {c["cell_id"] for c in comparison["changes"] if c["kind"] == "fix"} == {FAIL_CELL, ERROR_CELL}


def test_a_non_finite_loss_in_the_comparison_stays_strict_json(compared: Path) -> None:
    path = compared / "comparison.json"
    data = json.loads(path.read_text())
    data["changes"].append(
        {"kind": "loss", "cell_id": PASS_CELL, "label": "x", "before": 1.0, "after": math.nan, "detail": "drift"}
    )
    path.write_text(json.dumps(data))  # Python writes NaN, as write_comparison would
    write_reports(compared, ["json", "html"])
    document = json.loads((compared / "report.json").read_text(), parse_constant=lambda c: pytest.fail(c))
    assert document["comparison"]["changes"][-1]["after"] == "nan"
    jsonschema.validate(document, report_schema(), cls=jsonschema.Draft202012Validator)


@pytest.mark.parametrize(
    ("text", "warning"), [("{not json", "unreadable"), ('{"schema_version": 9, "changes": []}', "schema_version 9")]
)
def test_a_damaged_or_newer_comparison_is_a_warning_not_a_lost_report(compared: Path, text: str, warning: str) -> None:
    (compared / "comparison.json").write_text(text)
    report = load_report(compared)
    assert report.comparison is None and any(warning in w for w in report.warnings)
    write_reports(compared)
    assert 'id="changes"' not in (compared / "report.html").read_text()
