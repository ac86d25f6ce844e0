"""Every shipped known issue reproduces on this CPU: its example cell fails exactly the way the rule says."""

from __future__ import annotations

from pathlib import Path

import pytest

from qlora_check.known_issues import KnownIssue, apply_known_issues, load_known_issues
from qlora_check.results.models import CellResult, Status
from tests.integration.conftest import run_cell

pytestmark = pytest.mark.slow
ISSUES = load_known_issues()


@pytest.mark.parametrize(
    "issue",
    [
        pytest.param(issue, id=issue.id, marks=[pytest.mark.skip(reason="needs a GPU")] if issue.needs == "gpu" else [])
        for issue in ISSUES
    ],
)
def test_each_known_issue_reproduces_and_becomes_xfail(tmp_path: Path, issue: KnownIssue) -> None:
    result = CellResult.from_dict(run_cell(tmp_path, **{"steps": 4, **issue.example}))
    assert issue.explains(result), (result.status, result.reason)
    assert apply_known_issues(result, ISSUES).status is Status.XFAIL
