"""`plan --coverage`: which value pairs of a matrix's axes its plan runs here, and why the others do not."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator

from qlora_check.capabilities import HostCapabilities
from qlora_check.errors import MatrixError
from qlora_check.execution.plan import Plan, plan_cell
from qlora_check.matrix.axes import AxisValue
from qlora_check.matrix.cell import Cell
from qlora_check.matrix.coverage import AxisPairCoverage, Verdict, pair_coverage
from qlora_check.matrix.model import Matrix
from qlora_check.matrix.pairwise import MAX_ENUMERATED

Verdicts = Iterator[tuple[dict[str, AxisValue], Verdict]]


def plan_coverage(matrix: Matrix, plan: Plan, host: HostCapabilities) -> list[AxisPairCoverage]:
    """Pair coverage of ``plan``; every combination of the axes (less the user's excludes) explains gaps."""
    planned = ((entry.cell.values, Verdict(entry.planned.value, entry.reason)) for entry in plan.cells)
    return pair_coverage(matrix.axes, planned, _every_combination(matrix, host))


def _every_combination(matrix: Matrix, host: HostCapabilities) -> Verdicts:
    size = math.prod(len(values) for values in matrix.axes.values())
    if size > MAX_ENUMERATED:
        raise MatrixError(f"coverage reads every combination of the axes, and they are {size:,}")
    names = list(matrix.axes)
    for combination in itertools.product(*matrix.axes.values()):
        values = dict(zip(names, combination, strict=True))
        if any(all(values.get(name) == value for name, value in entry.items()) for entry in matrix.exclude):
            continue  # the user's choice: such a pair is missing, not n/a or skipped
        entry = plan_cell(Cell.from_values(values), host, matrix.runners)
        yield values, Verdict(entry.planned.value, entry.reason)
