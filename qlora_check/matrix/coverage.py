"""Pair coverage: for each two axes of a matrix, which value pairs a plan (or a run) really exercises.

A pure function over cells and their verdicts, so the same code answers `plan --coverage` (planned cells)
and a finished run (its results): a pair is *covered* when a cell holding it runs here, *skipped* when it
is only in cells this host cannot run, *n/a* when it is only in cells that are invalid by definition, and
*missing* when no cell holds it (the user excluded it, or a strategy left it out).
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from qlora_check.matrix.axes import AxisValue

RUN = "run"
SKIP = "skip"
NOT_APPLICABLE = "n/a"
_RANK = {RUN: 2, SKIP: 1, NOT_APPLICABLE: 0}
# Statuses of a result whose cell did not run; every other status means it ran (pass, fail, error, ...).
_NOT_RUN = {"skip": SKIP, "n/a": NOT_APPLICABLE}


@dataclass(frozen=True)
class Verdict:
    """What happens to one cell here: it runs, or it is skipped / n/a for ``reason``."""

    kind: str
    reason: str = ""


@dataclass(frozen=True)
class AxisPairCoverage:
    """How the value pairs of two axes fare; the reasons count value pairs, first reason seen per pair."""

    axes: tuple[str, str]
    total: int
    covered: int
    skipped: int
    not_applicable: int
    missing: int
    skip_reasons: dict[str, int] = field(default_factory=dict)
    na_reasons: dict[str, int] = field(default_factory=dict)
    missing_pairs: tuple[tuple[AxisValue, AxisValue], ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {
            "axes": list(self.axes),
            "total": self.total,
            "covered": self.covered,
            "skipped": self.skipped,
            "not_applicable": self.not_applicable,
            "missing": self.missing,
            "skip_reasons": self.skip_reasons,
            "na_reasons": self.na_reasons,
            "missing_pairs": [list(pair) for pair in self.missing_pairs],
        }


def verdict_of_status(status: str, reason: str = "") -> Verdict:
    """A result's status as a coverage verdict: skip and n/a did not run; anything else ran."""
    return Verdict(_NOT_RUN[status], reason) if status in _NOT_RUN else Verdict(RUN)


def pair_coverage(
    axes: Mapping[str, Sequence[AxisValue]],
    planned: Iterable[tuple[Mapping[str, AxisValue], Verdict]],
    unplanned: Iterable[tuple[Mapping[str, AxisValue], Verdict]] = (),
) -> list[AxisPairCoverage]:
    """Coverage of every two axes that have more than one value.

    ``planned`` are the cells of the plan (or results of a run). ``unplanned`` are cells left out of it
    (n/a pruned, or product rows a pairwise strategy did not pick): they never cover a pair, they only
    say why a pair is not covered. A pair found runnable only among them counts as missing.
    """
    names = [name for name, values in axes.items() if len(values) > 1]
    best: dict[tuple[str, AxisValue, str, AxisValue], Verdict] = {}
    _collect(best, planned, names, axes)
    explained: dict[tuple[str, AxisValue, str, AxisValue], Verdict] = {}
    _collect(explained, unplanned, names, axes)
    return [_one_pair(first, second, axes, best, explained) for first, second in itertools.combinations(names, 2)]


def _collect(
    best: dict[tuple[str, AxisValue, str, AxisValue], Verdict],
    cells: Iterable[tuple[Mapping[str, AxisValue], Verdict]],
    names: list[str],
    axes: Mapping[str, Sequence[AxisValue]],
) -> None:
    for values, verdict in cells:
        present = [name for name in names if name in values and values[name] in axes[name]]
        for first, second in itertools.combinations(present, 2):
            key = (first, values[first], second, values[second])
            seen = best.get(key)
            if seen is None or _RANK[verdict.kind] > _RANK[seen.kind]:
                best[key] = verdict


def _one_pair(
    first: str,
    second: str,
    axes: Mapping[str, Sequence[AxisValue]],
    best: dict[tuple[str, AxisValue, str, AxisValue], Verdict],
    explained: dict[tuple[str, AxisValue, str, AxisValue], Verdict],
) -> AxisPairCoverage:
    counts: Counter[str] = Counter()
    skip_reasons: Counter[str] = Counter()
    na_reasons: Counter[str] = Counter()
    missing: list[tuple[AxisValue, AxisValue]] = []
    for a, b in itertools.product(axes[first], axes[second]):
        key = (first, a, second, b)
        verdict = best.get(key) or explained.get(key)
        if verdict is None or (verdict.kind == RUN and key not in best):
            counts["missing"] += 1
            missing.append((a, b))
        elif verdict.kind == RUN:
            counts[RUN] += 1
        elif verdict.kind == SKIP:
            counts[SKIP] += 1
            skip_reasons[verdict.reason] += 1
        else:
            counts[NOT_APPLICABLE] += 1
            na_reasons[verdict.reason] += 1
    return AxisPairCoverage(
        axes=(first, second),
        total=len(axes[first]) * len(axes[second]),
        covered=counts[RUN],
        skipped=counts[SKIP],
        not_applicable=counts[NOT_APPLICABLE],
        missing=counts["missing"],
        skip_reasons=dict(skip_reasons.most_common()),
        na_reasons=dict(na_reasons.most_common()),
        missing_pairs=tuple(missing),
    )
