"""GitHub Actions shard emission: every cell once, balanced by recorded times, deterministic."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from qlora_check.cli import app
from qlora_check.errors import QloraCheckError
from qlora_check.execution.plan import PlanKind, PlannedCell
from qlora_check.matrix.cell import Cell
from qlora_check.scaleout.github import balanced_shards, github_matrix
from tests.conftest import write_matrix


def planned(count: int, na: int = 0) -> list[PlannedCell]:
    cells = [PlannedCell(Cell.from_values({"seed": index}), PlanKind.RUN) for index in range(count)]
    cells += [
        PlannedCell(Cell.from_values({"seed": 1000 + i, "train_type": "qlora"}), PlanKind.NOT_APPLICABLE)
        for i in range(na)
    ]
    return cells


@given(st.integers(1, 40), st.integers(1, 12), st.integers(0, 5))
def test_every_cell_lands_in_exactly_one_shard_and_counts_balance(cells: int, shards: int, na: int) -> None:
    plan = planned(cells, na)
    result = balanced_shards(plan, shards, {})
    ids = [cell_id for shard in result for cell_id in shard.cell_ids]
    assert sorted(ids) == sorted(entry.cell.id for entry in plan)
    assert len(result) == min(shards, cells + na) and all(shard.cell_ids for shard in result)
    sizes = [shard.expected for shard in result]
    assert max(sizes) - min(sizes) <= 1  # by count: n/a cells cost nothing


def test_recorded_wall_times_balance_the_shards_not_the_counts() -> None:
    plan = planned(5)
    ids = [entry.cell.id for entry in plan]
    history = {ids[0]: 100.0, ids[1]: 10.0, ids[2]: 10.0, ids[3]: 10.0, ids[4]: 10.0}
    shards = balanced_shards(plan, 2, history)
    assert [shard.cell_ids for shard in shards] == [(ids[0],), tuple(ids[1:])]
    assert [shard.expected for shard in shards] == [100.0, 40.0]
    document = github_matrix(plan, 2, history)
    assert document["include"][0] == {
        "shard": "1/2",
        "index": 1,
        "cells": ids[0],
        "size": 1,
        "expected_s": 100.0,
    }


def test_a_cell_the_last_run_did_not_time_counts_as_the_median() -> None:
    plan = planned(3)
    ids = [entry.cell.id for entry in plan]
    shards = balanced_shards(plan, 3, {ids[0]: 1.0, ids[1]: 3.0})
    assert sorted(shard.expected for shard in shards) == [1.0, 2.0, 3.0]


def test_shard_counts_outside_what_github_runs_are_refused() -> None:
    with pytest.raises(QloraCheckError, match="1 <= N <= 256"):
        balanced_shards(planned(3), 0, {})


def test_plan_emit_github_prints_one_json_line_the_run_command_accepts(tmp_path) -> None:  # type: ignore[no-untyped-def]
    matrix = write_matrix(tmp_path, "version: 1\nname: g\naxes: {train_type: [lora, qlora, full], seed: [0, 1]}\n")
    result = CliRunner().invoke(app, ["plan", str(matrix), "--emit", "github", "2", "--root", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert len(result.output.strip().splitlines()) == 1
    include = json.loads(result.output)["include"]
    assert [entry["shard"] for entry in include] == ["1/2", "2/2"]
    assert sum(entry["size"] for entry in include) == 4  # the two qlora cells are n/a: left out of the plan
    wrong = CliRunner().invoke(app, ["plan", str(matrix), "--emit", "gitlab", "2"])
    assert wrong.exit_code == 2


def test_run_cells_runs_only_the_named_cells_and_refuses_unknown_ids(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from qlora_check.results.store import read_results

    text = "version: 1\nname: c\naxes: {train_type: [lora], seed: [0, 1]}\n"
    matrix = write_matrix(tmp_path, text + "include: [{train_type: qlora, seed: 0}, {train_type: qlora, seed: 1}]\n")
    plan = json.loads(CliRunner().invoke(app, ["plan", str(matrix), "--json"]).output)["cells"]
    not_applicable = [cell["id"] for cell in plan if cell["planned"] == "n/a"]
    assert len(not_applicable) == 2  # qlora without a quantizer: recorded without running anything
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", str(matrix), "--out", str(out), "--cells", ",".join(not_applicable)])
    assert result.exit_code == 0, result.output
    assert sorted(read_results(out).final()) == sorted(not_applicable)
    unknown = CliRunner().invoke(app, ["run", str(matrix), "--out", str(tmp_path / "x"), "--cells", "0123456789ab"])
    assert unknown.exit_code == 2 and "0123456789ab" in unknown.output
