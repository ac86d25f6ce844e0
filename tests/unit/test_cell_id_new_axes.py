"""Axes added for the torch engine leave cell ids unchanged while they hold their defaults."""

from __future__ import annotations

from qlora_check.matrix.axes import DEFAULTS, ID_OPTIONAL_AT_DEFAULT
from qlora_check.matrix.cell import Cell


def test_ids_of_cells_that_do_not_use_the_new_axes_are_unchanged() -> None:
    assert Cell.from_values({}).id == "99cee3ee0cfa"  # the id pinned before these axes existed


def test_a_new_axis_away_from_its_default_changes_the_id() -> None:
    base = Cell.from_values({})
    changed = {
        "double_quant": False,
        "quant_storage": "bf16",
        "llama_pro_blocks": 2,
        "grad_accum_check": True,
        "runner": "trl",
    }
    assert set(changed) == ID_OPTIONAL_AT_DEFAULT
    ids = {Cell.from_values({name: value}).id for name, value in changed.items()}
    assert base.id not in ids and len(ids) == len(changed)
    assert all(DEFAULTS[name] != value for name, value in changed.items())
