"""matrices/core.yaml really runs every value pair of the six core axes that can run on this CPU.

The coverage is recomputed from the run's own results (results.jsonl: values and status of each cell) and
checked against an independent count: every combination of the six axes planned one by one (n/a, skip or
run here), and the pairs that occur in at least one combination that runs. Cells train 3 steps here (the
pairs, not the losses, are under test; benchmarks/core_matrix.py times the real matrix).
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from qlora_check.capabilities import HostCapabilities
from qlora_check.doctor.host_view import detect_host_capabilities
from qlora_check.execution.plan import PlanKind, plan_cell
from qlora_check.execution.run import RunOptions
from qlora_check.matrix.axes import CORE_AXES
from qlora_check.matrix.cell import Cell
from qlora_check.matrix.coverage import RUN, pair_coverage, verdict_of_status
from qlora_check.matrix.loader import load_matrix
from qlora_check.results.store import read_results, read_run
from tests.conftest import MATRICES, run_and_report, write_matrix

pytestmark = pytest.mark.slow


def _runnable_pairs(axes: dict[str, list[object]], host: HostCapabilities) -> set[tuple[str, object, str, object]]:
    pairs: set[tuple[str, object, str, object]] = set()
    for combination in itertools.product(*axes.values()):
        values = dict(zip(axes, combination, strict=True))
        if plan_cell(Cell.from_values(values), host).planned is PlanKind.RUN:  # type: ignore[arg-type]
            for a, b in itertools.combinations(CORE_AXES, 2):
                pairs.add((a, values[a], b, values[b]))
    return pairs


def test_a_real_run_of_core_covers_every_runnable_pair_of_the_core_axes(tmp_path: Path) -> None:
    source = (MATRICES / "core.yaml").read_text(encoding="utf-8")
    assert "\n  steps: " in source
    matrix_path = write_matrix(tmp_path, re.sub(r"\n  steps: \d+\n", "\n  steps: 3\n", source))
    matrix = load_matrix(matrix_path)
    assert matrix.axes["steps"] == [3] and list(matrix.axes)[: len(CORE_AXES)] == list(CORE_AXES)
    assert matrix.strategy.strength == 2

    outcome = run_and_report(RunOptions(matrix_path=matrix_path, root=tmp_path / "reports", jobs=2, timeout=300))
    results = read_results(outcome.run_dir).final()
    assert read_run(outcome.run_dir)["planned"]["strategy"] == "pairwise"

    core = {name: matrix.axes[name] for name in CORE_AXES}
    ran = [(result.values, verdict_of_status(result.status.value, result.reason)) for result in results.values()]
    coverage = pair_coverage(core, ran)
    covered = {
        (a, values[a], b, values[b])
        for values, verdict in ran
        if verdict.kind == RUN
        for a, b in itertools.combinations(CORE_AXES, 2)
    }
    wanted = _runnable_pairs(core, detect_host_capabilities())  # type: ignore[arg-type]
    assert wanted, "this host runs some core cells"
    assert covered == wanted
    assert sum(entry.covered for entry in coverage) == len(wanted), "pair_coverage agrees, axis pair by axis pair"
    for entry in coverage:
        first, second = entry.axes
        assert entry.covered == sum(1 for pair in wanted if pair[0] == first and pair[2] == second)
    assert all(verdict.kind == RUN for _, verdict in ran), "a pairwise plan holds only cells that run here"
