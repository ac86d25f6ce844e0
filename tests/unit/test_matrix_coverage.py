"""Pair coverage over planned cells: covered / skipped / n/a / missing, with reasons."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from qlora_check.matrix.axes import AxisValue
from qlora_check.matrix.coverage import NOT_APPLICABLE, RUN, SKIP, Verdict, pair_coverage, verdict_of_status

AXES: dict[str, list[AxisValue]] = {
    "backend": ["cpu", "cuda"],
    "train_type": ["lora", "qlora"],
    "quantizer": ["none", "bnb-nf4"],
    "steps": [40],
}


def _cells(rows: list[tuple[str, str, str]], verdict: Verdict) -> list[tuple[dict[str, AxisValue], Verdict]]:
    return [({"backend": b, "train_type": t, "quantizer": q, "steps": 40}, verdict) for b, t, q in rows]


def test_pairs_are_covered_skipped_na_or_missing_with_their_reasons() -> None:
    planned = [
        *_cells([("cpu", "lora", "none"), ("cpu", "qlora", "bnb-nf4")], Verdict(RUN)),
        *_cells([("cuda", "lora", "none")], Verdict(SKIP, "cuda: no device")),
    ]
    unplanned = _cells([("cpu", "lora", "bnb-nf4"), ("cpu", "qlora", "none")], Verdict(NOT_APPLICABLE, "adapter/base"))
    coverage = {entry.axes: entry for entry in pair_coverage(AXES, planned, unplanned)}
    assert set(coverage) == {("backend", "train_type"), ("backend", "quantizer"), ("train_type", "quantizer")}, (
        "single-value axes make no pairs"
    )
    backend_train = coverage[("backend", "train_type")]
    assert (backend_train.covered, backend_train.skipped, backend_train.missing) == (2, 1, 1)
    assert backend_train.skip_reasons == {"cuda: no device": 1}
    assert backend_train.missing_pairs == (("cuda", "qlora"),)
    train_quant = coverage[("train_type", "quantizer")]
    assert (train_quant.covered, train_quant.not_applicable, train_quant.missing) == (2, 2, 0)
    assert train_quant.na_reasons == {"adapter/base": 2}


def test_a_runnable_pair_seen_only_outside_the_plan_is_missing_not_covered() -> None:
    unplanned = _cells([("cpu", "lora", "none")], Verdict(RUN))
    coverage = pair_coverage(AXES, [], unplanned)
    assert all(entry.covered == 0 for entry in coverage)
    assert all(entry.missing == entry.total for entry in coverage)


def test_a_run_anywhere_in_the_plan_beats_a_skip_or_na_of_the_same_pair() -> None:
    planned = [
        *_cells([("cpu", "lora", "none")], Verdict(NOT_APPLICABLE, "x")),
        *_cells([("cpu", "lora", "none")], Verdict(RUN)),
        *_cells([("cpu", "lora", "none")], Verdict(SKIP, "y")),
    ]
    entry = pair_coverage(AXES, planned)[0]
    assert entry.covered == 1


def test_result_statuses_map_to_verdicts() -> None:
    assert verdict_of_status("fail") == Verdict(RUN), "a cell that ran and failed still exercised its pairs"
    assert verdict_of_status("skip", "no cuda") == Verdict(SKIP, "no cuda")
    assert verdict_of_status("n/a", "qlora needs a quantizer") == Verdict(NOT_APPLICABLE, "qlora needs a quantizer")


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["cpu", "cuda"]),
            st.sampled_from(["lora", "qlora"]),
            st.sampled_from(["none", "bnb-nf4"]),
            st.sampled_from([RUN, SKIP, NOT_APPLICABLE]),
        ),
        max_size=12,
    )
)
def test_counts_add_up_and_covered_is_exactly_the_pairs_of_running_cells(rows: list[tuple[str, str, str, str]]) -> None:
    planned = [({"backend": b, "train_type": t, "quantizer": q}, Verdict(kind, kind)) for b, t, q, kind in rows]
    names = ["backend", "train_type", "quantizer"]
    for entry in pair_coverage(AXES, planned):
        assert entry.covered + entry.skipped + entry.not_applicable + entry.missing == entry.total
        first, second = entry.axes
        running = {(v[first], v[second]) for v, verdict in planned if verdict.kind == RUN}
        assert entry.covered == len(running)
        assert entry.missing == len(
            set(itertools.product(AXES[first], AXES[second])) - {(v[first], v[second]) for v, _ in planned}
        )
        assert first in names and second in names
