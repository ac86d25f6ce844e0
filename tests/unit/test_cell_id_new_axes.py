"""Axes added for the torch engine leave cell ids unchanged while they hold their defaults."""

from __future__ import annotations

import pytest

from qlora_check.matrix.axes import DEFAULTS, ID_OPTIONAL_AT_DEFAULT, normalise_values
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
        "distributed": "ddp",
        "sharding": "shard_grad_op",
        "cpu_offload": True,
        "inject_rank": 0,
        "runner": "trl",
        "adapter_dtype": "param",
    }
    assert set(changed) == ID_OPTIONAL_AT_DEFAULT
    ids = {Cell.from_values({name: value}).id for name, value in changed.items()}
    assert base.id not in ids and len(ids) == len(changed)
    assert all(DEFAULTS[name] != value for name, value in changed.items())


def test_lr_auto_keeps_the_id_the_old_fixed_default_had() -> None:
    auto = Cell.from_values(normalise_values({"lr": "auto"}))
    assert auto["lr"] == "auto" and auto.id == "99cee3ee0cfa"
    assert Cell.from_values(normalise_values({"lr": 0.1})).id != auto.id


def test_short_architecture_names_are_aliases_of_the_tiny_names() -> None:
    assert normalise_values({"model": "llama"})["model"] == "tiny-llama"
    assert Cell.from_values(normalise_values({"model": "Llama"})).id == "99cee3ee0cfa"
    assert normalise_values({"model": "phi3"})["model"] == "tiny-phi3"
    assert normalise_values({"model": "/models/Phi3"})["model"] == "/models/Phi3"  # a path is kept as written


def test_lr_takes_numbers_or_auto_only() -> None:
    with pytest.raises(ValueError, match="takes a number"):
        normalise_values({"lr": "fast"})
