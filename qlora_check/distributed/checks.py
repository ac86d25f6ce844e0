"""Verdicts that mean "distributed worked": the ranks agree, and one process reaches the same losses."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from qlora_check.results.models import CheckResult


def ranks_agree_check(agreement: dict[str, Any]) -> CheckResult:
    """Every rank ends with the same trainable parameters (gathered whole: a hash and rank 0's max |diff|)."""
    hashes: list[str] = list(agreement.get("hashes", []))
    diff = float(agreement.get("max_abs_diff", math.inf))
    distinct = len(set(hashes))
    figures = {
        "ranks": len(hashes),
        "distinct_hashes": distinct,
        "max_abs_diff": diff,
        "elements": agreement.get("elements"),
    }
    if not hashes:
        return CheckResult("ranks_agree", False, "no rank reported its parameters", figures)
    passed = distinct == 1 and diff == 0.0
    detail = (
        f"all {len(hashes)} ranks hold identical trainable parameters"
        if passed
        else f"{distinct} different parameter sets over {len(hashes)} ranks (max |diff| {diff:.3g})"
    )
    return CheckResult("ranks_agree", passed, detail, figures)


def matches_single_check(
    distributed: Sequence[float],
    single: Sequence[float],
    parameters_diff: float,
    parameters_scale: float,
    atol: float,
    rtol: float,
    why: str,
) -> CheckResult:
    """The losses of the ranks (mean per step) equal the single-process reference's within the tolerance."""
    figures: dict[str, Any] = {"atol": atol, "rtol": rtol, "tolerance": why, "steps": len(distributed)}
    if len(distributed) != len(single) or not distributed:
        detail = f"{len(distributed)} distributed losses, {len(single)} single-process losses"
        return CheckResult("matches_single", False, detail, figures)
    diff = max(abs(a - b) for a, b in zip(distributed, single, strict=True))
    scale = max(abs(b) for b in single)
    limit = atol + rtol * scale
    parameters_limit = atol + rtol * parameters_scale
    figures.update(
        max_abs_diff=diff,
        scale=scale,
        limit=limit,
        parameters_max_abs_diff=parameters_diff,
        parameters_limit=parameters_limit,
    )
    passed = diff <= limit and parameters_diff <= parameters_limit  # NaN compares False: never passes
    kind = "exactly" if limit == 0 else f"within {limit:.3g}"
    verdict = "match" if passed else "differ"
    detail = (
        f"losses and final parameters {verdict} one process over the same split ({kind}): "
        f"loss max |diff| {diff:.3g}, parameters {parameters_diff:.3g}"
    )
    return CheckResult("matches_single", passed, detail, figures)
