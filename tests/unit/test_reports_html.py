"""report.html without a browser: self-contained, escaped, complete; and its size at 1,000 cells."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path
from typing import Any

from qlora_check.events import Event, Notice
from qlora_check.reports import write_reports, write_reports_after_run
from qlora_check.reports.html import safe_json
from qlora_check.reports.logs import clean_text, log_tail
from qlora_check.results.models import Status
from tests.unit.reports_support import HOSTILE, MIXED, SMOKE, copy_run, synthetic_run

DATA = re.compile(r'<script type="application/json" id="report-data">(.*?)</script>', re.S)
SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)


def _html(run_dir: Path) -> str:
    (path,) = write_reports(run_dir, ["html"])
    return path.read_text(encoding="utf-8")


def _payload(html: str) -> dict[str, Any]:
    match = DATA.search(html)
    assert match is not None
    data: dict[str, Any] = json.loads(match.group(1))
    return data


def test_page_is_self_contained_and_allows_only_its_own_script(tmp_path: Path) -> None:
    html = _html(copy_run(MIXED, tmp_path))
    assert set(re.findall(r"https?://[^\s\"'<>)]+", html)) == {"http://www.w3.org/2000/svg"}  # a namespace
    assert "<link" not in html and "@import" not in html and "url(" not in html
    assert not re.search(r"<[^>]*\ssrc\s*=", html)
    (script,) = SCRIPT.findall(html)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in html
    assert "default-src 'none'" in html


def test_results_text_is_escaped_everywhere(tmp_path: Path) -> None:
    html = _html(copy_run(MIXED, tmp_path))
    assert HOSTILE not in html
    assert "<img" not in html
    assert html.count("<script") == 2  # the data block and the page's own script
    assert html.count("</script") == 2
    payload = _payload(html)
    labels = [cell["label"] for cell in payload["cells"]]
    assert any(HOSTILE in label for label in labels)  # the data survives intact, as data
    assert HOSTILE in payload["values"]["model"]


def test_payload_has_every_cell_with_its_details(tmp_path: Path) -> None:
    run_dir = copy_run(MIXED, tmp_path)
    html = _html(run_dir)
    payload = _payload(html)
    assert len(payload["cells"]) == 19
    assert len({cell["id"] for cell in payload["cells"]}) == 19
    statuses = {status["status"] for status in payload["statuses"]}
    assert statuses == {status.value for status in Status}
    failed = next(cell for cell in payload["cells"] if cell["status"] == "fail")
    assert [check["name"] for check in failed["checks"]] == ["finite", "learned"]
    assert len(failed["losses"]) == 12 and failed["memory"]["phases_mb"]["train"] > 0
    assert failed["log"] == f"./logs/{failed['id']}.log"
    assert payload["engines"][failed["engine"]]["device"] == "cpu"
    for cell in payload["cells"]:
        if "tail" in cell:
            assert Status(cell["status"]).is_failure
        axes_values = {axis: payload["values"][axis][i] for axis, i in zip(payload["axes"], cell["v"], strict=True)}
        assert axes_values["backend"] in cell["label"]


def test_header_shows_run_host_command_counts_and_evidence(tmp_path: Path) -> None:
    html = _html(copy_run(MIXED, tmp_path))
    run = json.loads((tmp_path / MIXED / "run.json").read_text())
    assert "report-fixture" in html
    assert run["host"]["cpu"] in html and run["host"]["os"] in html
    assert "--jobs 1" in html and run["started_at"] in html
    assert "1 min 06 s" in html
    assert re.search(r'data-status="timeout"[^>]*>.*?<b>1</b>', html)
    assert re.search(r'data-status="n/a"[^>]*>.*?<b>7</b>', html)
    assert '🟡 <span class="frac">1/4</span>' in html and '🔴 <span class="frac">0/1</span>' in html
    assert "torch 2.13" in html


def test_safe_json_cannot_close_the_script_element() -> None:
    data = {"x": "</script><script>alert(1)</script><!-- & \u2028"}
    text = str(safe_json(data))
    assert "</" not in text and "<!--" not in text and "&" not in text
    assert json.loads(text) == data


def test_a_thousand_cell_report_stays_small(tmp_path: Path) -> None:
    run_dir = synthetic_run(tmp_path / "synthetic", cells=1000)
    html = _html(run_dir)
    size = len(html.encode())
    print(f"1,000-cell report.html: {size / 1e6:.2f} MB")
    assert len(_payload(html)["cells"]) == 1000
    assert size < 2_500_000
    # full logs are never inlined: each failing cell's log (200 lines) shows as a 40-line tail
    assert "log line 199:" in html and "log line 160:" in html
    assert "log line 159:" not in html and "log line 0:" not in html


def test_a_rendering_failure_becomes_a_notice_not_a_lost_run(tmp_path: Path) -> None:
    run_dir = copy_run(SMOKE, tmp_path)
    (run_dir / "run.json").write_text("{not json", encoding="utf-8")
    events: list[Event] = []
    assert write_reports_after_run(run_dir, events.append) == []
    (notice,) = events
    assert isinstance(notice, Notice) and "reports were not written" in notice.message
    assert (run_dir / "results.jsonl").exists() and not (run_dir / "report.html").exists()


def test_log_tail_reads_the_end_of_a_big_log_only(tmp_path: Path) -> None:
    log = tmp_path / "big.log"
    log.write_text("".join(f"line {i}\n" for i in range(100_000)), encoding="utf-8")
    tail = log_tail(log, lines=5)
    assert tail.splitlines() == [f"line {i}" for i in range(99_995, 100_000)]
    assert log_tail(tmp_path / "missing.log") == ""
    assert clean_text("\x1b[1;31mred\x1b[0m\r\nnext\x00") == "red\nnext"


def test_a_run_without_results_still_renders_every_format(tmp_path: Path) -> None:
    run_dir = copy_run(SMOKE, tmp_path)
    (run_dir / "results.jsonl").unlink()
    run = json.loads((run_dir / "run.json").read_text())
    (run_dir / "run.json").write_text(json.dumps({**run, "status": "running", "ended_at": None}))
    paths = write_reports(run_dir)
    assert [path.name for path in paths] == ["report.html", "report.json", "junit.xml", "summary.md"]
    html = paths[0].read_text(encoding="utf-8")
    assert _payload(html)["cells"] == [] and "unknown" in html and "running" in html
