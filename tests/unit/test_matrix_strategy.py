"""`strategy:` pairwise / {nwise: N} expansion: coverage of runnable tuples, exclude, include on top."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qlora_check.errors import MatrixError
from qlora_check.matrix.axes import OPTIMIZERS, PRECISIONS, SCHEDULERS, AxisValue
from qlora_check.matrix.expand import expand_matrix, expand_values
from qlora_check.matrix.loader import parse_matrix
from qlora_check.matrix.model import Matrix, Strategy
from qlora_check.matrix.pairwise import tuples_of

Row = dict[str, AxisValue]


def _no_fp16_with_sgd(values: Row) -> bool:
    """A stand-in for 'runnable here': one pair of values never runs."""
    return not (values.get("precision") == "fp16" and values.get("optimizer") == "sgd")


@st.composite
def pairwise_matrices(draw: st.DrawFn) -> Matrix:
    axes: dict[str, list[AxisValue]] = {
        "precision": draw(st.lists(st.sampled_from(PRECISIONS), min_size=1, max_size=4, unique=True)),
        "optimizer": draw(st.lists(st.sampled_from(OPTIMIZERS), min_size=1, max_size=4, unique=True)),
        "scheduler": draw(st.lists(st.sampled_from(SCHEDULERS), min_size=1, max_size=3, unique=True)),
        "seed": draw(st.lists(st.integers(0, 3), min_size=1, max_size=3, unique=True)),
    }
    exclude = draw(st.lists(st.fixed_dictionaries({"scheduler": st.sampled_from(axes["scheduler"])}), max_size=1))
    include = draw(st.lists(st.fixed_dictionaries({"lr": st.sampled_from([0.1, 0.2])}), max_size=1))
    strength = draw(st.sampled_from([2, 3]))
    return Matrix(name="p", axes=axes, exclude=exclude, include=include, strategy=Strategy(strength))


@settings(max_examples=80, deadline=None)
@given(pairwise_matrices())
def test_every_tuple_of_an_allowed_runnable_row_is_in_some_cell(matrix: Matrix) -> None:
    names = list(matrix.axes)
    strength = matrix.strategy.strength
    rows = [dict(zip(names, values, strict=True)) for values in itertools.product(*matrix.axes.values())]
    allowed = [
        row
        for row in rows
        if _no_fp16_with_sgd(row) and not any(all(row[k] == v for k, v in e.items()) for e in matrix.exclude)
    ]
    expansion = expand_matrix(matrix, _no_fp16_with_sgd)
    got = [cell.values for cell in expansion.cells]
    wanted = set().union(set(), *(tuples_of(row, names, strength) for row in allowed))
    covered = set().union(set(), *(tuples_of(values, names, strength) for values in got))
    assert wanted <= covered
    assert all(_no_fp16_with_sgd(values) for values in got)
    generated = [cell.values for cell in expansion.cells if cell.id not in expansion.explicit]
    for entry in matrix.exclude:  # an include cell of its own is never excluded (GitHub Actions' rule)
        assert not any(all(values[k] == v for k, v in entry.items()) for values in generated)
    for entry in matrix.include:  # include on top: it extends every generated row (lr is no axis here)
        assert all(values["lr"] == entry["lr"] for values in got)
        assert generated or expansion.explicit, "with no row to extend, the include is a cell of its own"
    assert expand_matrix(matrix, _no_fp16_with_sgd) == expansion, "the same matrix gives the same cells"


def test_an_include_that_contradicts_the_axes_is_a_cell_of_its_own_and_marked_explicit() -> None:
    matrix = parse_matrix(
        """
version: 1
name: p
strategy: pairwise
axes: {precision: [fp32, bf16], optimizer: [adamw, sgd], scheduler: [constant, cosine]}
include: [{precision: fp16, optimizer: sgd, lr: 0.1}]
"""
    )
    expansion = expand_matrix(matrix, _no_fp16_with_sgd)
    extra = [cell for cell in expansion.cells if cell["precision"] == "fp16"]
    assert len(extra) == 1 and extra[0]["lr"] == 0.1
    assert expansion.explicit == frozenset({extra[0].id}), "the include cell is kept even though it cannot run"
    assert len(expansion.cells) == 5, "4 rows cover the 12 pairs of three two-valued axes, plus the include"


def test_pairs_that_no_runnable_row_holds_are_reported() -> None:
    matrix = Matrix(name="p", axes={"precision": ["fp16", "fp32"], "optimizer": ["sgd", "adamw"]}, strategy=Strategy(2))
    expansion = expand_matrix(matrix, _no_fp16_with_sgd)
    assert expansion.impossible == ({"precision": "fp16", "optimizer": "sgd"},)
    assert len(expansion.cells) == 3


def test_the_product_strategy_ignores_the_predicate() -> None:
    matrix = Matrix(name="p", axes={"precision": ["fp16", "fp32"], "optimizer": ["sgd", "adamw"]})
    assert len(expand_values(matrix, _no_fp16_with_sgd)) == 4


@pytest.mark.parametrize(("text", "strength"), [("pairwise", 2), ("product", 0), ("{nwise: 3}", 3), ("{nwise: 2}", 2)])
def test_strategy_spellings(text: str, strength: int) -> None:
    matrix = parse_matrix(f"version: 1\nname: s\nstrategy: {text}\naxes: {{seed: [1, 2]}}\n")
    assert matrix.strategy == Strategy(strength)


@pytest.mark.parametrize("text", ["pairwize", "{nwise: 1}", "{nwise: 9}", "{nwize: 3}", "{nwise: true}", "[pairwise]"])
def test_a_bad_strategy_is_one_clear_line(text: str) -> None:
    with pytest.raises(
        MatrixError,
        match=r"strategy \(line 3, column \d+\): takes product, pairwise or \{nwise: N\} with N from 2 to 6",
    ):
        parse_matrix(f"version: 1\nname: s\nstrategy: {text}\naxes: {{seed: [1, 2]}}\n")
