"""Matrix expansion: the cross product, then `exclude`, then `include`, as GitHub Actions does it.

A pure function of the matrix, so it is tested property-by-property (tests/unit/test_matrix_expand.py).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

from qlora_check.errors import MatrixError
from qlora_check.matrix.axes import AxisValue
from qlora_check.matrix.cell import Cell
from qlora_check.matrix.model import Matrix

MAX_COMBINATIONS = 100_000


@dataclass
class _Combination:
    original: dict[str, AxisValue]
    added: dict[str, AxisValue] = field(default_factory=dict)

    def accepts(self, entry: dict[str, AxisValue]) -> bool:
        """An include entry extends a combination unless it contradicts an original value."""
        return all(self.original[name] == value for name, value in entry.items() if name in self.original)

    def merged(self) -> dict[str, AxisValue]:
        return {**self.original, **self.added}


def expand_values(matrix: Matrix) -> list[dict[str, AxisValue]]:
    """The combinations of a matrix as partial value dicts, in file order (defaults not filled)."""
    names = list(matrix.axes)
    for index, entry in enumerate(matrix.exclude):
        unknown = [name for name in entry if name not in matrix.axes]
        if unknown:
            raise MatrixError(
                f"exclude[{index}]: {unknown[0]!r} is not an axis of this matrix (axes: {', '.join(names) or 'none'})",
                tip="exclude can only remove combinations of the matrix's own axes",
            )
    size = math.prod(len(values) for values in matrix.axes.values())
    if size > MAX_COMBINATIONS:
        raise MatrixError(
            f"the axes multiply out to {size:,} combinations (at most {MAX_COMBINATIONS:,})",
            tip="split the matrix, or use include for sparse combinations",
        )
    combinations: list[_Combination] = []
    if names:
        for product in itertools.product(*(matrix.axes[name] for name in names)):
            values = dict(zip(names, product, strict=True))
            if not any(_partially_matches(values, entry) for entry in matrix.exclude):
                combinations.append(_Combination(values))
    standalone: list[dict[str, AxisValue]] = []
    for entry in matrix.include:
        extended = False
        for combination in combinations:
            if combination.accepts(entry):
                combination.added.update({k: v for k, v in entry.items() if k not in combination.original})
                extended = True
        if not extended:
            standalone.append(dict(entry))
    return [combination.merged() for combination in combinations] + standalone


def expand(matrix: Matrix) -> list[Cell]:
    """The cells of a matrix, defaults filled, duplicates (same id) kept once in first order."""
    cells: dict[str, Cell] = {}
    for values in expand_values(matrix):
        cell = Cell.from_values(values)
        cells.setdefault(cell.id, cell)
    return list(cells.values())


def _partially_matches(values: dict[str, AxisValue], entry: dict[str, AxisValue]) -> bool:
    return all(values.get(name) == value for name, value in entry.items())
