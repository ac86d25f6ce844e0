"""`expect:` rules: a cell that fails as expected is `xfail`; one that passes against expectation is `xpass`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from qlora_check.matrix.model import ExpectRule
from qlora_check.results.models import CellResult, Status

NOT_JUDGED = frozenset({Status.SKIP, Status.NOT_APPLICABLE, Status.INTERRUPTED})


def matching_rule(rules: Sequence[ExpectRule], values: dict[str, object]) -> ExpectRule | None:
    """The first rule whose partial match fits the cell's values."""
    return next((rule for rule in rules if rule.matches(values)), None)  # type: ignore[arg-type]


def apply_expectations(result: CellResult, rules: Sequence[ExpectRule]) -> CellResult:
    """Judge a finished result against the matrix's expectations.

    The expected status itself → `xfail`; `pass` → `xpass` (a fix happened upstream; fails the run only
    under `strict: true`); another failure keeps its own status, with the broken expectation in `reason`.
    """
    rule = matching_rule(rules, result.values)
    if rule is None or result.status in NOT_JUDGED:
        return result
    expected = {"status": rule.status, "reason": rule.reason, "link": rule.link, "strict": rule.strict}
    if result.status.value == rule.status:
        return replace(
            result,
            status=Status.XFAIL,
            reason=f"expected {rule.status}: {rule.reason}; {result.reason}",
            expected=expected,
        )
    if result.status is Status.PASS:
        return replace(
            result, status=Status.XPASS, reason=f"passed, but expected {rule.status}: {rule.reason}", expected=expected
        )
    reason = f"expected {rule.status} ({rule.reason}) but got {result.status.value}: {result.reason}"
    return replace(result, reason=reason, expected=expected)
