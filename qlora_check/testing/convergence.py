"""`check_convergence`: did a loss curve really fall? The cells' own `learned` and `finite` verdicts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from qlora_check.engines.checks import finite_check, learned_check
from qlora_check.results.models import CheckResult

DEFAULT_MARGIN = 0.2


@dataclass(frozen=True)
class Convergence:
    """Truthy iff every loss is finite and the last quarter's mean is ``margin`` below the first quarter's.

    ``detail`` says it in words with the figures (use it as an assert message); ``checks`` are the verdicts
    behind it, the same `CheckResult`s a cell records.
    """

    converged: bool
    early_mean: float | None
    late_mean: float | None
    relative_drop: float | None
    margin: float
    detail: str
    checks: tuple[CheckResult, ...] = field(default_factory=tuple)

    def __bool__(self) -> bool:
        return self.converged

    def to_dict(self) -> dict[str, Any]:
        return {
            "converged": self.converged,
            "early_mean": self.early_mean,
            "late_mean": self.late_mean,
            "relative_drop": self.relative_drop,
            "margin": self.margin,
            "detail": self.detail,
        }


def check_convergence(losses: Sequence[float], margin: float = DEFAULT_MARGIN) -> Convergence:
    """Judge a loss curve (one loss per optimizer step, at least 4) the way a cell's checks do."""
    values = [float(loss) for loss in losses]
    finite, learned = finite_check(values), learned_check(values, margin)
    failed = [check.detail for check in (finite, learned) if not check.passed]
    figures = learned.figures
    return Convergence(
        converged=not failed,
        early_mean=figures.get("early_mean"),
        late_mean=figures.get("late_mean"),
        relative_drop=figures.get("relative_drop"),
        margin=margin,
        detail="; ".join(failed) if failed else learned.detail,
        checks=(finite, learned),
    )
