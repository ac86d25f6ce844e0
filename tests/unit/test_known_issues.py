"""The shipped known-issues file and its matcher: parsing, version ranges, error text, precedence."""

from __future__ import annotations

from typing import Any

import pytest

from qlora_check.known_issues import (
    KnownIssuesError,
    active_issues,
    apply_known_issues,
    load_known_issues,
    matched_cells,
    parse_known_issues,
)
from qlora_check.matrix.axes import normalise_values
from qlora_check.matrix.cell import Cell
from qlora_check.results.models import CellResult, ErrorInfo, Status

RULE: dict[str, Any] = {
    "id": "demo",
    "match": {"quantizer": ["hqq-4bit", "hqq-8bit"], "train_type": "qdora"},
    "status": "error",
    "error_contains": "boom",
    "libraries": {"peft": ">=0.10,<1"},
    "url": "https://github.com/example/project/issues/1",
    "reason": "a demo",
}


def _issues(**changes: Any) -> list[Any]:
    return parse_known_issues({"schema_version": 1, "issues": [{**RULE, **changes}]})


def _result(status: Status, message: str = "", expected: dict[str, Any] | None = None, **values: Any) -> CellResult:
    cell = Cell.from_values(normalise_values({"quantizer": "hqq-4bit", "train_type": "qdora", **values}))
    error = ErrorInfo("builtins.RuntimeError", message) if message else None
    return CellResult(cell.id, cell.label, cell.values, status, reason=message, error=error, expected=expected)


def test_the_shipped_file_parses_and_every_rule_has_a_real_link_and_an_example() -> None:
    issues = load_known_issues()
    assert {issue.id for issue in issues} >= {"int8-qdora-cpu-scb", "quanto-autocast-fp32-weights"}
    for issue in issues:
        assert issue.url.startswith("https://github.com/")
        assert issue.matches(Cell.from_values(normalise_values(issue.example)).values), issue.id  # one of its cells
        assert issue.needs in ("cpu", "gpu")


def test_the_known_error_becomes_xfail_with_the_link() -> None:
    judged = apply_known_issues(_result(Status.ERROR, "it went boom"), _issues())
    assert judged.status is Status.XFAIL
    assert judged.expected is not None and judged.expected["link"] == RULE["url"]
    assert judged.expected["source"] == "known_issues"
    assert RULE["url"] in judged.reason


def test_another_error_of_a_matching_cell_keeps_its_status() -> None:
    judged = apply_known_issues(_result(Status.ERROR, "something else"), _issues())
    assert judged.status is Status.ERROR and judged.expected is None


def test_a_pass_becomes_xpass_that_asks_whether_upstream_fixed_it() -> None:
    judged = apply_known_issues(_result(Status.PASS), _issues())
    assert judged.status is Status.XPASS
    assert f"fixed upstream? {RULE['url']}" in judged.reason
    assert not judged.fails_run


def test_a_matrix_expectation_overrides_a_known_issue() -> None:
    already = _result(Status.ERROR, "boom", expected={"status": "fail", "reason": "mine", "link": None, "strict": True})
    assert apply_known_issues(already, _issues()) is already


def test_cells_outside_the_match_are_untouched() -> None:
    other = _result(Status.ERROR, "boom", quantizer="hqq-3bit")
    assert apply_known_issues(other, _issues()) is other


def test_version_ranges_decide_whether_a_rule_applies() -> None:
    issues = _issues()
    assert active_issues(issues, {"peft": "0.21.0"}) == issues
    assert active_issues(issues, {"peft": "1.2.0"}) == []
    assert active_issues(issues, {"peft": None}) == []


def test_matched_cells_counts_each_cell_once() -> None:
    cells = [
        {"quantizer": "hqq-4bit", "train_type": "qdora"},
        {"quantizer": "hqq-8bit", "train_type": "qdora"},
        {"quantizer": "hqq-4bit", "train_type": "qlora"},
    ]
    assert matched_cells(_issues(), cells) == {"demo": 2}


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"schema_version": 2, "issues": []}, "schema_version 2"),
        ({"schema_version": 1, "issues": [{"id": "x"}]}, "missing match"),
        ({"schema_version": 1, "issues": [{**RULE, "url": "javascript:alert(1)"}]}, "https://"),
        ({"schema_version": 1, "issues": [{**RULE, "needs": "tpu"}]}, "needs one of"),
    ],
)
def test_a_malformed_file_is_refused_clearly(document: dict[str, Any], message: str) -> None:
    with pytest.raises(KnownIssuesError, match=message):
        parse_known_issues(document)


def test_the_rule_that_explains_the_failure_is_the_one_applied() -> None:
    issues = parse_known_issues(
        {
            "schema_version": 1,
            "issues": [
                {**RULE, "id": "first"},
                {
                    **RULE,
                    "id": "second",
                    "error_contains": "bang",
                    "url": "https://github.com/example/project/issues/2",
                },
            ],
        }
    )
    judged = apply_known_issues(_result(Status.ERROR, "it went bang"), issues)
    assert judged.status is Status.XFAIL and judged.expected is not None and judged.expected["id"] == "second"
