"""How a cell's result becomes a pytest outcome, and what a failed cell's text shows."""

from __future__ import annotations

from typing import Any

import pytest

from qlora_check.results.models import CellResult, CheckResult, ErrorInfo, Status
from qlora_check.testing.cells import CellFailed, ExpectedCellFailure, cuda_grant, failure_text, outcome

LEARNED = CheckResult(
    "learned", False, "mean loss went from 5.500 to 5.400: a 1.8% drop (needs 20%)", {"relative_drop": 0.018}
)


def result(status: Status, **fields: Any) -> CellResult:
    return CellResult("abcdef012345", "cpu/none/lora/fp32/adamw/constant", {}, status, **fields)


def test_failure_text_lists_failed_checks_with_figures_the_error_and_the_log() -> None:
    failed = result(
        Status.FAIL,
        reason="check learned failed",
        checks=[CheckResult("finite", True, "all 8 losses finite"), LEARNED],
        losses=[5.5, 5.45, 5.42, 5.4],
        error=ErrorInfo("ValueError", "boom", "Traceback\n  line 1\nValueError: boom"),
        log_path="/tmp/cell.log",
    )
    text = failure_text(failed)
    assert text.splitlines()[0] == "fail: check learned failed"
    assert "check learned failed: mean loss went from 5.500 to 5.400" in text and "relative_drop=0.018" in text
    assert "finite" not in text  # passing checks are not failure text
    assert "losses: 5.5, 5.45, 5.42 … 5.4 (4 steps)" in text
    assert "ValueError: boom" in text and "log: /tmp/cell.log" in text


def test_outcomes_follow_the_status() -> None:
    outcome(result(Status.PASS))
    outcome(result(Status.XPASS))  # pytest's xfail marker decides whether strict makes it a failure
    with pytest.raises(pytest.skip.Exception, match="n/a: qlora needs a quantizer"):
        outcome(result(Status.NOT_APPLICABLE, reason="qlora needs a quantizer"))
    with pytest.raises(ExpectedCellFailure):
        outcome(result(Status.XFAIL, reason="expected fail"))
    for status in (Status.FAIL, Status.ERROR, Status.CRASH, Status.OOM, Status.TIMEOUT, Status.FLAKY):
        with pytest.raises(CellFailed, match=f"^{status.value}"):
            outcome(result(status, reason="went wrong"))


def test_each_xdist_worker_gets_its_own_gpu_round_robin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,5")
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw3")
    assert cuda_grant(2).devices == ("5",)
    monkeypatch.delenv("PYTEST_XDIST_WORKER")
    assert cuda_grant(2).devices == ("4",)
