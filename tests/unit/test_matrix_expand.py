"""Matrix expansion: the cross product, then exclude, then include, with GitHub Actions' rules."""

from __future__ import annotations

import itertools
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from qlora_check.matrix import Cell, Matrix, expand
from qlora_check.matrix.axes import DEFAULTS, OPTIMIZERS, PRECISIONS, SCHEDULERS, TRAIN_TYPES
from qlora_check.matrix.expand import expand_values
from qlora_check.matrix.loader import parse_matrix

# GitHub's own documented example, in our axes: fruit -> optimizer, animal -> scheduler,
# color -> lr, shape -> seed.
GITHUB_EXAMPLE = """
version: 1
name: github-example
axes:
  optimizer: [adam, sgd]
  scheduler: [constant, linear]
include:
  - lr: 0.1
  - lr: 0.2
    scheduler: constant
  - optimizer: adam
    seed: 7
  - optimizer: adadelta
  - optimizer: adadelta
    scheduler: constant
"""


def test_github_actions_documented_include_example() -> None:
    combinations = expand_values(parse_matrix(GITHUB_EXAMPLE))
    assert combinations == [
        {"optimizer": "adam", "scheduler": "constant", "lr": 0.2, "seed": 7},
        {"optimizer": "adam", "scheduler": "linear", "lr": 0.1, "seed": 7},
        {"optimizer": "sgd", "scheduler": "constant", "lr": 0.2},
        {"optimizer": "sgd", "scheduler": "linear", "lr": 0.1},
        {"optimizer": "adadelta"},
        {"optimizer": "adadelta", "scheduler": "constant"},
    ]


def test_exclude_matches_partially_and_include_never_overwrites_original_values() -> None:
    matrix = parse_matrix(
        """
version: 1
name: t
axes: {train_type: [full, lora], precision: [fp32, bf16], optimizer: [adamw]}
exclude: [{train_type: full, precision: bf16}]
include: [{train_type: lora, optimizer: sgd, lr: 0.05}]
"""
    )
    combinations = expand_values(matrix)
    assert {"train_type": "full", "precision": "bf16", "optimizer": "adamw"} not in combinations
    assert len(combinations) == 4
    # optimizer is an original axis: sgd contradicts adamw, so the include became a cell of its own
    assert combinations[-1] == {"train_type": "lora", "optimizer": "sgd", "lr": 0.05}


def test_added_values_may_be_overwritten_by_later_includes() -> None:
    matrix = parse_matrix("version: 1\nname: t\naxes: {optimizer: [adam]}\ninclude: [{lr: 0.1}, {lr: 0.2}]\n")
    assert expand_values(matrix) == [{"optimizer": "adam", "lr": 0.2}]


def test_unset_axes_take_their_defaults() -> None:
    (cell,) = expand(parse_matrix("version: 1\nname: t\naxes: {train_type: full}\n"))
    assert cell.values == {**DEFAULTS, "train_type": "full"}


def test_aliases_normalise_to_the_same_cell() -> None:
    spelled = expand(
        parse_matrix("version: 1\nname: t\naxes: {quantizer: NF4, train_type: qlora, precision: bfloat16}")
    )
    canonical = expand(
        parse_matrix("version: 1\nname: t\naxes: {quantizer: bnb-nf4, train_type: qlora, precision: bf16}")
    )
    assert [c.id for c in spelled] == [c.id for c in canonical]


axis_lists = st.fixed_dictionaries(
    {
        "train_type": st.lists(st.sampled_from(TRAIN_TYPES), min_size=1, max_size=4, unique=True),
        "precision": st.lists(st.sampled_from(PRECISIONS), min_size=1, max_size=3, unique=True),
        "optimizer": st.lists(st.sampled_from(OPTIMIZERS), min_size=1, max_size=3, unique=True),
        "scheduler": st.lists(st.sampled_from(SCHEDULERS), min_size=1, max_size=3, unique=True),
        "steps": st.lists(st.integers(1, 100), min_size=1, max_size=3, unique=True),
    }
)


@settings(max_examples=60, deadline=None)
@given(axes=axis_lists)
def test_every_combination_appears_exactly_once(axes: dict[str, list[object]]) -> None:
    matrix = Matrix(name="h", axes=axes)  # type: ignore[arg-type]
    cells = expand(matrix)
    expected = {tuple(combo) for combo in itertools.product(*axes.values())}
    seen = [tuple(cell[name] for name in axes) for cell in cells]
    assert len(seen) == len(set(seen)) == len(expected)
    assert set(seen) == expected


@settings(max_examples=60, deadline=None)
@given(axes=axis_lists, data=st.data())
def test_exclude_removes_exactly_the_partial_matches(axes: dict[str, list[object]], data: st.DataObject) -> None:
    names = data.draw(st.lists(st.sampled_from(list(axes)), min_size=1, max_size=2, unique=True))
    entry = {name: data.draw(st.sampled_from(axes[name])) for name in names}
    kept = expand_values(Matrix(name="h", axes=axes, exclude=[entry]))  # type: ignore[arg-type]
    every = expand_values(Matrix(name="h", axes=axes))  # type: ignore[arg-type]
    assert kept == [c for c in every if not all(c[k] == v for k, v in entry.items())]


@settings(max_examples=60, deadline=None)
@given(
    values=st.fixed_dictionaries(
        {"lr": st.floats(0, 1), "seed": st.integers(0, 10**6), "optimizer": st.sampled_from(OPTIMIZERS)}
    ),
    seed=st.integers(0, 1000),
)
def test_cell_id_is_stable_and_independent_of_key_order(values: dict[str, object], seed: int) -> None:
    keys = list(values)
    random.Random(seed).shuffle(keys)
    shuffled = {key: values[key] for key in keys}
    assert Cell.from_values(values).id == Cell.from_values(shuffled).id  # type: ignore[arg-type]
    assert Cell.from_values(values).label == Cell.from_values(shuffled).label  # type: ignore[arg-type]


def test_cell_id_is_pinned_across_machines_and_versions() -> None:
    # The id is a hash of canonical values: if this literal changes, every stored run's ids change too.
    assert Cell.from_values({}).id == "99cee3ee0cfa"
    assert Cell.from_values({"train_type": "full"}).id != Cell.from_values({}).id


def test_label_names_core_axes_and_changed_knobs() -> None:
    cell = Cell.from_values({"train_type": "qlora", "quantizer": "bnb-nf4", "lr": 0.05})
    assert cell.label == "cpu/bnb-nf4/qlora/fp32/adamw/constant lr=0.05"
