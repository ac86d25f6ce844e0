"""Nightly workflow on real runs: shards merged equal the whole, compare finds a forced regression,
expectations turn known failures into xfail and surprises into xpass."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qlora_check.cli import app
from qlora_check.execution.run import RunOptions
from qlora_check.reports.compare import compare_runs
from qlora_check.results.models import Status
from qlora_check.results.store import read_results, read_run
from tests.conftest import run_and_report, write_matrix

pytestmark = pytest.mark.slow
runner = CliRunner()

# Six cells, two of which really run on this host (the rest are n/a or skip, recorded at once). The n/a
# cells are include entries of their own: n/a combinations of the axes would be left out of the plan.
MATRIX = (
    "version: 1\nname: nightly\naxes: {train_type: [lora, full], backend: [cpu, cuda], steps: 16}\n"
    "include: [{train_type: qlora, steps: 16}, {train_type: qlora, backend: cuda, steps: 16}]\n"
)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("nightly")
    matrix = write_matrix(root, MATRIX)
    whole = run_and_report(RunOptions(matrix_path=matrix, root=root, out=root / "whole", jobs=2)).run_dir
    shard_1 = run_and_report(RunOptions(matrix_path=matrix, root=root, out=root / "s1", jobs=1, shard=(1, 2))).run_dir
    shard_2 = run_and_report(RunOptions(matrix_path=matrix, root=root, out=root / "s2", jobs=1, shard=(2, 2))).run_dir
    strict = write_matrix(root, MATRIX + "settings: {learned_margin: 0.99}\n", "strict.yaml")
    broken = run_and_report(
        RunOptions(matrix_path=strict, root=root, out=root / "broken", jobs=2, compare_to="latest")
    ).run_dir
    return {"root": root, "whole": whole, "s1": shard_1, "s2": shard_2, "broken": broken}


def statuses(run_dir: Path) -> dict[str, Status]:
    return {cell_id: r.status for cell_id, r in read_results(run_dir).final().items()}


def test_shards_partition_the_cells_and_merge_back_into_the_whole(runs: dict[str, Path]) -> None:
    one, two, whole = statuses(runs["s1"]), statuses(runs["s2"]), statuses(runs["whole"])
    assert one and two and not set(one) & set(two)
    assert read_run(runs["s1"])["shard"] == {"index": 1, "count": 2}
    merged_dir = runs["root"] / "merged"
    result = runner.invoke(app, ["merge", str(runs["s1"]), str(runs["s2"]), "--out", str(merged_dir)])
    assert result.exit_code == 0, result.output
    assert statuses(merged_dir) == whole
    merged = read_run(merged_dir)
    assert len(merged["merged_from"]) == 2 and merged["summary"] == read_run(runs["whole"])["summary"]
    comparison = compare_runs(runs["whole"], merged_dir)
    assert comparison.cells_compared == 6
    assert not [c for c in comparison.changes if c.kind in ("regression", "fix", "status", "loss", "added", "removed")]


def test_merging_disagreeing_runs_reports_the_conflict(runs: dict[str, Path]) -> None:
    result = runner.invoke(app, ["merge", str(runs["whole"]), str(runs["broken"]), "--out", str(runs["root"] / "m2")])
    assert result.exit_code == 2  # different matrices (the strict one changed a setting): refused
    assert "different matrices" in result.output


def test_compare_finds_the_forced_regression_and_exits_1(runs: dict[str, Path]) -> None:
    comparison = compare_runs(runs["whole"], runs["broken"])
    regressed = {c.label for c in comparison.regressions}
    assert regressed == {"cpu/none/lora/fp32/adamw/constant steps=16", "cpu/none/full/fp32/adamw/constant steps=16"}
    result = runner.invoke(app, ["compare", str(runs["whole"]), str(runs["broken"]), "--json"])
    assert result.exit_code == 1
    document = json.loads(result.output)
    assert document["counts"]["regression"] == 2 and document["schema_version"] == 1
    assert runner.invoke(app, ["compare", str(runs["whole"]), str(runs["broken"]), "--fail-on", "never"]).exit_code == 0
    markdown = runner.invoke(app, ["compare", str(runs["whole"]), str(runs["broken"]), "--md"]).output
    assert "### Regressions (newly failing)" in markdown and "pass → fail" in markdown
    reverse = compare_runs(runs["broken"], runs["whole"])
    assert len(reverse.of_kind("fix")) == 2 and not reverse.regressions


def test_compare_to_latest_is_resolved_before_the_run_moves_latest(runs: dict[str, Path]) -> None:
    document = json.loads((runs["broken"] / "comparison.json").read_text())
    assert Path(document["run_a"]) == runs["s2"].resolve()  # the latest run when "broken" started
    assert (runs["root"] / "latest").resolve() == runs["broken"].resolve()
    assert "### Regressions" in (runs["broken"] / "comparison.md").read_text()


def test_expectations_make_xfail_and_xpass(tmp_path: Path) -> None:
    matrix = write_matrix(
        tmp_path,
        """
version: 1
name: expect
axes: {steps: [12], lr: [0.003, 0.0]}
expect:
  - {match: {lr: 0.0}, status: fail, reason: "lr 0 cannot learn", link: "https://example.invalid/1"}
  - {match: {lr: 0.003}, status: error, reason: "upstream bug 123", strict: false}
""",
    )
    outcome = run_and_report(RunOptions(matrix_path=matrix, root=tmp_path, jobs=2))
    by_lr = {r.values["lr"]: r for r in outcome.results.values()}
    assert by_lr[0.0].status is Status.XFAIL and by_lr[0.0].expected["link"] == "https://example.invalid/1"
    assert by_lr[0.003].status is Status.XPASS and "expected error" in by_lr[0.003].reason
    assert outcome.exit_code == 0  # xpass without strict does not fail the run
    strict = write_matrix(tmp_path, matrix.read_text().replace("strict: false", "strict: true"), "strict.yaml")
    assert run_and_report(RunOptions(matrix_path=strict, root=tmp_path / "s", jobs=2)).exit_code == 1
