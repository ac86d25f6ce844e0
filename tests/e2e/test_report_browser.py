"""report.html in headless Chromium: loads clean, one entry per cell, filters in the URL, drill-down
with curves, the changes since a compared run, and text from results never runs as code. Screenshots go
to test-artifacts/."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from qlora_check.reports import write_reports
from qlora_check.reports.compare import compare_runs
from qlora_check.reports.finish import write_comparison
from tests.conftest import REPO
from tests.e2e.conftest import CHROMIUM
from tests.unit.reports_support import HOSTILE, MIXED, copy_run, edited_run

ARTIFACTS = REPO / "test-artifacts"
FAIL_CELL = "cad34d2017d3"  # cpu/none/lora/.../cosine: the learned check failed
HOSTILE_CELL = "d73da44163cd"  # its model name is HOSTILE

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
]
pytest.importorskip("playwright.sync_api", reason="needs playwright (pip install playwright)")


@dataclass
class Page:
    """A page and everything it said: console errors, page errors, dialogs (alert would be one)."""

    page: Any
    url: str
    problems: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def count(self, selector: str) -> int:
        return int(self.page.locator(selector).count())


@pytest.fixture
def open_report(browser: Any, tmp_path: Path) -> Iterator[Any]:
    pages: list[Any] = []

    def open_(run_dir: Path, fragment: str = "") -> Page:
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        pages.append(context)
        url = (run_dir / "report.html").as_uri()
        wrapped = Page(page, url)
        page.on("console", lambda m: wrapped.problems.append(m.text) if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda error: wrapped.problems.append(str(error)))
        page.on("dialog", lambda dialog: (wrapped.dialogs.append(dialog.message), dialog.dismiss()))
        page.goto(url + fragment)
        page.wait_for_selector("#pivot tbody tr")
        return wrapped

    yield open_
    for context in pages:
        context.close()


@pytest.fixture
def mixed_run(tmp_path: Path) -> Path:
    run_dir = copy_run(MIXED, tmp_path)
    write_reports(run_dir, ["html"])
    return run_dir


def _screenshot(page: Page, name: str, full_page: bool = True) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.page.screenshot(path=str(ARTIFACTS / name), full_page=full_page)


def _entry_counts(page: Page) -> list[int]:
    return [int(n) for n in page.page.eval_on_selector_all(".entry", "els => els.map(e => e.dataset.count)")]


def test_page_loads_clean_and_shows_every_cell_once(open_report: Any, mixed_run: Path) -> None:
    page = open_report(mixed_run)
    _screenshot(page, "report-mixed.png")
    assert page.problems == [] and page.dialogs == []
    rows = page.page.eval_on_selector_all("tr.cell-row", "els => els.map(e => e.dataset.cellId)")
    assert len(rows) == 19 and len(set(rows)) == 19
    assert sum(_entry_counts(page)) == 19  # every cell counted in exactly one pivot square
    assert page.page.text_content("#shown") == "19 of 19 cells shown"
    # the cpu/none/lora square holds four cells and takes the timeout's colour, the worst of them
    square = page.page.locator(".entry[data-count='4']")
    assert square.get_attribute("data-worst") == "timeout" and "st-timeout" in (square.get_attribute("class") or "")
    assert page.count(".entry.st-na") > 0 and page.count(".entry.st-skip") > 0
    na_colour = page.page.eval_on_selector(".entry.st-na", "e => getComputedStyle(e).backgroundColor")
    fail_colour = page.page.eval_on_selector(".badge.st-fail", "e => getComputedStyle(e).backgroundColor")
    assert na_colour != fail_colour


def test_every_axis_as_rows_gives_one_matrix_entry_per_cell(open_report: Any, mixed_run: Path) -> None:
    axes = "backend,quantizer,train_type,scheduler,model,lr,inject"
    page = open_report(mixed_run, f"#rows={axes}&cols=")
    assert _entry_counts(page) == [1] * 19
    ids = page.page.eval_on_selector_all(".entry", "els => els.map(e => e.dataset.cellId)")
    assert len(set(ids)) == 19
    assert page.problems == []


def test_filters_hide_cells_and_live_in_the_url(open_report: Any, mixed_run: Path) -> None:
    page = open_report(mixed_run)
    page.page.click("#status-filter button[data-status='n/a']")
    assert page.count("tr.cell-row") == 7
    assert sum(_entry_counts(page)) == 7
    statuses = page.page.eval_on_selector_all("tr.cell-row .badge", "els => els.map(e => e.textContent)")
    assert set(statuses) == {"· n/a"}
    page.page.click("#axis-controls button[data-axis='backend'][data-value='cuda']")
    assert page.count("tr.cell-row") == 4
    page.page.click("#axis-controls button[data-axis='train_type'][data-role='rows']")
    url = page.page.url
    assert "status=n%2Fa" in url and "f.backend=cuda" in url and "train_type" in url.split("rows=")[1]
    again = open_report(mixed_run, "#" + url.split("#", 1)[1])  # the link reproduces the view
    assert again.count("tr.cell-row") == 4
    assert again.page.get_attribute("#axis-controls button[data-axis='train_type'][data-role='rows']", "class") == "on"
    _screenshot(again, "report-filtered.png")
    page.page.click("#reset")
    assert page.count("tr.cell-row") == 19


def test_clicking_a_cell_opens_details_with_curves_checks_and_memory(open_report: Any, mixed_run: Path) -> None:
    page = open_report(mixed_run)
    page.page.click(f"tr.cell-row[data-cell-id='{FAIL_CELL}']")
    details = page.page.locator("#details")
    assert details.is_visible()
    text = details.inner_text()
    assert "✗ fail" in text and "learned" in text and "relative_drop=0.1907" in text
    assert "train" in text and "tokens/s" in text
    paths = page.page.eval_on_selector_all("#details svg.curve path.line", "els => els.map(e => e.getAttribute('d'))")
    assert len(paths) == 2 and all(d.startswith("M") and d.count("L") == 11 for d in paths)  # 12 steps each
    assert f"cell={FAIL_CELL}" in page.page.url
    _screenshot(page, "report-details.png", full_page=False)
    page.page.click("#details-close")
    assert not details.is_visible() and "cell=" not in page.page.url
    # a square with several cells lists them; each opens its own details
    page.page.click(".entry[data-count='4']")
    page.page.click(f"#details .group-list button[data-cell-id='{FAIL_CELL}']")
    assert "learned" in details.inner_text()
    assert page.problems == []


def test_failing_cell_details_show_error_and_log_tail_with_a_relative_link(open_report: Any, mixed_run: Path) -> None:
    raised = next(
        json.loads(line)["cell_id"]
        for line in (mixed_run / "results.jsonl").read_text().splitlines()
        if json.loads(line)["values"]["inject"] == "raise"
    )
    page = open_report(mixed_run, f"#cell={raised}")
    assert page.page.text_content("#details pre.error-message") == "injected fault: raise"
    assert "RuntimeError: injected fault: raise" in (page.page.text_content("#details pre.log-tail") or "")
    assert page.page.get_attribute("#details a.log-link", "href") == f"./logs/{raised}.log"


def test_text_from_results_never_runs(open_report: Any, mixed_run: Path) -> None:
    results = mixed_run / "results.jsonl"
    lines = [json.loads(line) for line in results.read_text().splitlines()]
    attack = '<script>alert(1)</script><img src=x onerror="window.__pwned=1;alert(3)"></pre><b>bold</b>'
    for line in lines:
        if line["cell_id"] == HOSTILE_CELL:
            line["error"]["message"] = attack
            line["reason"] = attack
    results.write_text("".join(json.dumps(line) + "\n" for line in lines))
    write_reports(mixed_run, ["html"])
    page = open_report(mixed_run, f"#cell={HOSTILE_CELL}")
    assert page.page.text_content("#details pre.error-message") == attack
    assert HOSTILE in (page.page.text_content("#details-title") or "")
    assert page.page.evaluate("window.__pwned") is None
    assert page.count("img") == 0 and page.count("#details b") == 0 and page.count("script") == 2
    assert page.dialogs == [] and page.problems == []
    _screenshot(page, "report-hostile.png", full_page=False)


@pytest.fixture
def compared_run(tmp_path: Path) -> Path:
    """A later night of the mixed matrix compared with the recorded one: a regression, an xpass, the
    hostile cell's status change, a removed cell, torch upgraded."""
    before = edited_run(MIXED, tmp_path, "night-1")
    expected = {"status": "fail", "reason": "known bug", "link": "https://example.invalid/1", "strict": False}
    after = edited_run(
        MIXED,
        tmp_path,
        "night-2",
        libraries={"torch": "2.14.0+cpu"},
        cells={
            "940df7f2a4fc": {"status": "fail", "reason": "learned: <img src=x onerror=alert(5)>"},
            FAIL_CELL: {"status": "xpass", "reason": "passed; expected fail", "expected": expected},
            HOSTILE_CELL: {"status": "fail"},
        },
        drop=("3b131cdeb476",),
    )
    write_comparison(compare_runs(before, after), after)
    write_reports(after, ["html"])
    return after


def test_changes_since_the_baseline_render_and_open_their_cells(open_report: Any, compared_run: Path) -> None:
    page = open_report(compared_run)
    _screenshot(page, "report-changes.png")
    assert page.problems == [] and page.dialogs == [] and page.page.evaluate("window.__pwned") is None
    changes = page.page.locator("#changes")
    assert changes.is_visible() and "Changes since night-1" in changes.inner_text()
    kinds = page.page.eval_on_selector_all("#changes .change-group", "els => els.map(e => e.dataset.kind)")
    assert kinds == ["regression", "fix", "status", "removed", "environment"]
    regression_box = ".change-group[data-kind='regression']"
    red = page.page.eval_on_selector(regression_box, "e => getComputedStyle(e).borderLeftColor")
    assert red == "rgb(207, 34, 46)"
    regression = page.page.text_content(".change-group[data-kind='regression']") or ""
    assert "pass → fail: learned: <img src=x onerror=alert(5)>" in regression  # shown as text
    assert page.count("img") == 0
    assert page.page.is_visible(".change-group[data-kind='fix'] .fixed-upstream")
    assert HOSTILE in (page.page.text_content(".change-group[data-kind='status']") or "")
    assert page.page.is_visible("#xpass") and "fixed upstream?" in (page.page.text_content("#xpass") or "")
    page.page.click(f"#changes .cell-link[data-open-cell='{HOSTILE_CELL}']")
    assert HOSTILE in (page.page.text_content("#details-title") or "")
    assert f"cell={HOSTILE_CELL}" in page.page.url
    page.page.click("#details-close")
    page.page.click(f"#xpass .cell-link[data-open-cell='{FAIL_CELL}']")
    assert "xpass" in (page.page.text_content("#details .big-status") or "")
    assert page.problems == [] and page.dialogs == []
