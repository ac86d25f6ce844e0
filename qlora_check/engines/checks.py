"""Framework-independent checks on what a cell recorded (losses, learning rates).

Each returns a `CheckResult` with the figures behind the verdict, so a report can show why.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from qlora_check.results.models import CheckResult


def finite_check(losses: Sequence[float]) -> CheckResult:
    """Every recorded loss is a finite number."""
    bad = [index for index, loss in enumerate(losses) if not math.isfinite(loss)]
    if not losses:
        return CheckResult("finite", False, "no losses were recorded", {"steps": 0})
    if bad:
        return CheckResult(
            "finite",
            False,
            f"loss is not finite at step {bad[0]} ({losses[bad[0]]})",
            {"first_bad_step": bad[0], "bad_steps": len(bad)},
        )
    return CheckResult("finite", True, f"all {len(losses)} losses finite", {"steps": len(losses)})


def learned_check(losses: Sequence[float], margin: float) -> CheckResult:
    """The mean loss of the last quarter of steps is at least ``margin`` (a fraction) below the first quarter's.

    Quarters (not single steps) so that one noisy step decides nothing.
    """
    if len(losses) < 4:
        return CheckResult("learned", False, f"needs at least 4 steps, got {len(losses)}", {"steps": len(losses)})
    quarter = len(losses) // 4
    early = sum(losses[:quarter]) / quarter
    late = sum(losses[-quarter:]) / quarter
    figures = {"early_mean": round(early, 6), "late_mean": round(late, 6), "margin": margin}
    if not (math.isfinite(early) and math.isfinite(late)):
        return CheckResult("learned", False, "losses are not finite", figures)
    drop = (early - late) / early if early > 0 else 0.0
    figures["relative_drop"] = round(drop, 6)
    passed = drop >= margin
    detail = f"mean loss went from {early:.3f} to {late:.3f}: a {drop:.1%} drop (needs {margin:.0%})"
    return CheckResult("learned", passed, detail, figures)
