"""`lr: auto` comes from the committed sweep; resolved defaults are recorded; compare names a changed default."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from qlora_check.matrix.defaults import AUTO_LR, auto_lr, changed_defaults, choose_lr, resolve_defaults
from qlora_check.reports.compare import ChangeKind, Thresholds, cell_changes
from qlora_check.results.models import CellResult, Status

SWEEP = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "lr_sweep.json"


def test_the_auto_table_is_what_the_rule_picks_from_the_committed_sweep() -> None:
    document = json.loads(SWEEP.read_text())
    assert document["schema_version"] == 1 and document["steps"] == 40
    drops: dict[tuple[str, str], dict[float, list[float]]] = defaultdict(lambda: defaultdict(list))
    for point in document["points"]:
        drop = point["relative_drop"] if point["relative_drop"] is not None else -1.0
        drops[(point["optimizer"], point["family"])][point["lr"]].append(drop)
    assert {key: choose_lr(by_lr) for key, by_lr in drops.items()} == AUTO_LR
    for key, lr in AUTO_LR.items():  # the chosen lr learned (drop >= the 20% margin) in both engines
        assert min(drops[key][lr]) >= 0.2, key


def test_sgd_and_adadelta_get_far_larger_rates_than_adamw() -> None:
    assert auto_lr("sgd", "qlora")[0] >= 30 * auto_lr("adamw", "qlora")[0]
    assert auto_lr("adadelta", "lora")[0] >= 100 * auto_lr("adamw", "lora")[0]
    assert auto_lr("paged_adamw_8bit", "qlora")[0] == auto_lr("adamw", "qlora")[0]


def test_auto_is_resolved_and_recorded_and_an_explicit_lr_is_honoured() -> None:
    values, record = resolve_defaults({"lr": "auto", "optimizer": "sgd", "train_type": "qdora", "precision": "bf16"})
    assert values["lr"] == 0.3 and record["lr"]["source"] == "auto" and "lr_sweep.json" in record["lr"]["why"]
    assert record["adapter_dtype"] == {"value": "fp32", "effective": "fp32"}
    values, record = resolve_defaults({"lr": 0.05, "optimizer": "sgd", "train_type": "lora", "precision": "fp32"})
    assert values["lr"] == 0.05 and record["lr"]["source"] == "matrix"


def _result(status: Status, defaults: dict[str, object] | None, **values: object) -> CellResult:
    cell_values = {"lr": "auto", "optimizer": "sgd", "train_type": "lora", "precision": "bf16", **values}
    engine = {"defaults": defaults} if defaults is not None else {}
    return CellResult("abc", "sgd cell", cell_values, status, losses=[5.0, 4.9], engine=engine)


def test_compare_names_a_changed_default_instead_of_a_fix() -> None:
    _values, record = resolve_defaults({"lr": "auto", "optimizer": "sgd", "train_type": "lora", "precision": "bf16"})
    before = _result(Status.FAIL, None, lr=0.003)  # a run from before defaults were recorded
    after = _result(Status.PASS, record)
    changes = cell_changes(before, after, Thresholds())
    assert [change.kind for change in changes] == [ChangeKind.DEFAULT_CHANGED]
    assert "lr 0.003 → 0.3" in changes[0].detail and "adapter_dtype bf16 → fp32" in changes[0].detail


def test_an_explicit_lr_from_an_old_run_is_not_a_changed_default() -> None:
    _values, record = resolve_defaults({"lr": 0.1, "optimizer": "sgd", "train_type": "full", "precision": "fp32"})
    assert changed_defaults({"lr": 0.1, "train_type": "full", "precision": "fp32"}, None, record) == {}
    before = _result(Status.PASS, None, lr=0.1, train_type="full", precision="fp32")
    after = _result(Status.FAIL, record, lr=0.1, train_type="full", precision="fp32")
    assert [change.kind for change in cell_changes(before, after, Thresholds())] == [ChangeKind.REGRESSION]


@pytest.mark.parametrize(("setting", "effective"), [("fp32", "fp32"), ("param", "bf16")])
def test_the_adapter_dtype_in_effect_follows_the_setting(setting: str, effective: str) -> None:
    _values, record = resolve_defaults(
        {"lr": 0.1, "optimizer": "adamw", "train_type": "qlora", "precision": "bf16", "adapter_dtype": setting}
    )
    assert record["adapter_dtype"]["effective"] == effective
