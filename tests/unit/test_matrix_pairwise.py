"""Covering arrays: every runnable tuple covered, only runnable rows, impossible tuples named, deterministic."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qlora_check.matrix.axes import AxisValue
from qlora_check.matrix.pairwise import covering_array, tuples_of

Axes = dict[str, list[AxisValue]]
Row = dict[str, AxisValue]
Forbidden = frozenset[tuple[tuple[str, AxisValue], ...]]


@st.composite
def axes_and_rule(draw: st.DrawFn) -> tuple[Axes, Forbidden]:
    """Up to 5 axes of up to 4 values, and a forbidden set of pairs (what makes a row not runnable)."""
    count = draw(st.integers(1, 5))
    axes: Axes = {f"a{i}": [f"v{j}" for j in range(draw(st.integers(1, 4)))] for i in range(count)}
    names = list(axes)
    every_pair = [((x, vx), (y, vy)) for x, y in itertools.combinations(names, 2) for vx in axes[x] for vy in axes[y]]
    forbidden = draw(st.sets(st.sampled_from(every_pair), max_size=6)) if every_pair else set()
    return axes, frozenset(forbidden)


def _rule(forbidden: Forbidden, names: list[str]) -> Callable[[Row], bool]:
    def is_runnable(row: Row) -> bool:
        return not any(pair in forbidden for pair in tuples_of(row, names, 2))

    return is_runnable


def _product(axes: Axes) -> list[Row]:
    return [dict(zip(axes, values, strict=True)) for values in itertools.product(*axes.values())]


@settings(max_examples=150, deadline=None)
@given(axes_and_rule(), st.sampled_from([1, 2, 3]))
def test_every_runnable_tuple_is_covered_by_runnable_rows(case: tuple[Axes, Forbidden], strength: int) -> None:
    axes, forbidden = case
    names = list(axes)
    is_runnable = _rule(forbidden, names)
    array = covering_array(axes, is_runnable, strength=strength)

    runnable = [row for row in _product(axes) if is_runnable(row)]
    wanted = set().union(*(tuples_of(row, names, strength) for row in runnable)) if runnable else set()
    covered = set().union(*(tuples_of(row, names, strength) for row in array.rows)) if array.rows else set()
    assert covered == wanted
    assert all(is_runnable(row) for row in array.rows)
    assert len(array.rows) <= len(runnable)
    assert len({tuple(row.items()) for row in array.rows}) == len(array.rows), "a row chosen twice"
    assert array.coverable == len(wanted)
    every = set().union(*(tuples_of(row, names, strength) for row in _product(axes)))
    assert {tuple(item.items()) for item in array.impossible} == every - wanted


@settings(max_examples=50, deadline=None)
@given(axes_and_rule())
def test_the_same_axes_always_give_the_same_rows(case: tuple[Axes, Forbidden]) -> None:
    axes, forbidden = case
    first = covering_array(axes, _rule(forbidden, list(axes)), strength=2)
    again = covering_array(dict(axes), _rule(forbidden, list(axes)), strength=2)
    assert first == again


def test_pairwise_is_much_smaller_than_the_product_and_exact_on_a_known_case() -> None:
    axes: Axes = {name: ["x", "y", "z"] for name in ("a", "b", "c", "d")}
    array = covering_array(axes, lambda row: True, strength=2)
    # 3^4 = 81 rows; the optimum for four ternary axes is 9 (an orthogonal array); greedy finds close to it.
    assert 9 <= len(array.rows) <= 15
    assert not array.impossible


def test_a_pair_that_is_never_runnable_is_reported_not_covered() -> None:
    axes: Axes = {"train_type": ["lora", "qlora"], "quantizer": ["none", "nf4"], "seed": [0, 1]}

    def is_runnable(row: Row) -> bool:
        return (row["train_type"] == "qlora") == (row["quantizer"] != "none")

    array = covering_array(axes, is_runnable)
    assert {tuple(item.items()) for item in array.impossible} == {
        (("train_type", "lora"), ("quantizer", "nf4")),
        (("train_type", "qlora"), ("quantizer", "none")),
    }
    assert all(is_runnable(row) for row in array.rows)


def test_nothing_runnable_gives_no_rows() -> None:
    array = covering_array({"a": [1, 2], "b": [3]}, lambda row: False)
    assert array.rows == ()
    assert array.coverable == 0
    assert len(array.impossible) == 2


def test_strength_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="strength"):
        covering_array({"a": [1]}, lambda row: True, strength=0)


@settings(max_examples=60, deadline=None)
@given(axes_and_rule(), st.integers(1, 3))
def test_a_cost_changes_which_rows_not_what_they_cover(case: tuple[Axes, Forbidden], strength: int) -> None:
    axes, forbidden = case
    names = list(axes)
    rule = _rule(forbidden, names)
    plain = covering_array(axes, rule, strength=strength)
    weighted = covering_array(axes, rule, strength=strength, cost=lambda row: 1.0 + 10.0 * (row[names[0]] == "v0"))
    assert weighted.coverable == plain.coverable and weighted.impossible == plain.impossible
    covered = set().union(*(tuples_of(row, names, strength) for row in weighted.rows)) if weighted.rows else set()
    wanted = set().union(*(tuples_of(row, names, strength) for row in _product(axes) if rule(row)))
    assert covered == wanted and all(rule(row) for row in weighted.rows)


def test_a_cheaper_row_that_covers_the_same_new_pairs_is_preferred() -> None:
    # mlx[cpu]-like: QLoRA in fp16 on one backend costs 20x. Every pair it would give can come from a cheap
    # row ((qlora, fp16) from the other backend, (mlx, fp16) and (mlx, qlora) from other training types).
    axes: Axes = {
        "backend": ["mlx", "cpu"],
        "quantizer": ["q4", "q8"],
        "train_type": ["qlora", "qdora"],
        "precision": ["fp16", "fp32"],
    }

    def cost(row: Row) -> float:
        return 20.0 if (row["backend"], row["train_type"], row["precision"]) == ("mlx", "qlora", "fp16") else 1.0

    plain = covering_array(axes, lambda row: True)
    weighted = covering_array(axes, lambda row: True, cost=cost)
    assert sum(cost(row) > 1 for row in plain.rows) == 2  # product order puts the slow rows first
    assert [row for row in weighted.rows if cost(row) > 1] == []
    assert len(weighted.rows) == len(plain.rows) == 6
