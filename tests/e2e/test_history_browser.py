"""history.html in headless Chromium: loads clean (no console errors, no script at all), shows the
cell × run grid, the failing cells and sparklines, and hostile text as text. Screenshots go to
test-artifacts/."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from qlora_check.reports import write_reports
from qlora_check.reports.history import load_history
from qlora_check.reports.history_html import write_history
from tests.conftest import REPO
from tests.e2e.conftest import CHROMIUM
from tests.unit.reports_support import HOSTILE, NIGHTS_PASS_CELL, recorded_nights

ARTIFACTS = REPO / "test-artifacts"
HOSTILE_CELL = "d73da44163cd"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
]
pytest.importorskip("playwright.sync_api", reason="needs playwright (pip install playwright)")


@pytest.fixture
def history_page(browser: Any, tmp_path: Path) -> Iterator[tuple[Any, list[str]]]:
    root = recorded_nights(tmp_path)
    newest = root / "runs" / "a-night4"
    run = json.loads((newest / "run.json").read_text())
    run["host"]["hostname"] = HOSTILE
    (newest / "run.json").write_text(json.dumps(run))
    write_reports(newest, ["html"])
    out = write_history(load_history(root), root / "history.html")
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("dialog", lambda dialog: (problems.append("dialog: " + dialog.message), dialog.dismiss()))
    page.goto(out.as_uri())
    page.wait_for_selector("#grid tbody tr")
    yield page, problems
    context.close()


def test_history_loads_clean_and_shows_the_grid(history_page: tuple[Any, list[str]]) -> None:
    page, problems = history_page
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "history.png"), full_page=True)
    assert problems == []
    assert page.locator("#grid tbody tr.cell-row").count() == 19
    assert page.locator("#grid thead th.run").count() == 4
    statuses = page.eval_on_selector_all(
        f"#grid tr[data-cell-id='{NIGHTS_PASS_CELL}'] td.h", "els => els.map(e => e.dataset.status)"
    )
    assert statuses == ["pass", "pass", "fail", "error"]
    colour = page.eval_on_selector(
        f"#grid tr[data-cell-id='{NIGHTS_PASS_CELL}'] td.h.st-fail", "e => getComputedStyle(e).backgroundColor"
    )
    assert colour == "rgb(207, 34, 46)"
    assert page.locator(f"#grid tr[data-cell-id='{NIGHTS_PASS_CELL}'] svg.spark").count() == 2
    assert page.locator("#grid tr.env-row td.changed").count() == 2  # torch in night 3, peft in night 4
    row = page.locator(f"#failing tr[data-cell-id='{NIGHTS_PASS_CELL}']").inner_text()
    assert "c-night2" in row and "torch: 2.13.0+cpu → 2.14.0+cpu" in row and "peft: 0.21.2 → 0.22.0" in row


def test_history_shows_hostile_text_as_text_and_links_the_run_report(history_page: tuple[Any, list[str]]) -> None:
    page, problems = history_page
    assert HOSTILE in (page.text_content("header .facts") or "")
    assert HOSTILE in (page.text_content(f"#grid tr[data-cell-id='{HOSTILE_CELL}'] th.cell") or "")
    assert page.locator("img").count() == 0 and page.locator("script").count() == 0
    assert (
        page.eval_on_selector("#grid thead th.newest a", "a => a.getAttribute('href')") == "./runs/a-night4/report.html"
    )
    page.click("#grid thead th.newest a")
    page.wait_for_selector("#pivot tbody tr")  # the run's own report opens
    assert problems == []
