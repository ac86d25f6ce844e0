"""Matrix expansion: the cross product, then `exclude`, then `include`, as GitHub Actions does it.

With `strategy: pairwise` (or `{nwise: N}`) the product is replaced by a covering array of the rows that
are not excluded and that the caller's predicate says can run (matrix/pairwise.py); `include` is applied on
top, with the same rules. A pure function of the matrix (and the predicate), so it is tested
property-by-property (tests/unit/test_matrix_expand.py, tests/unit/test_matrix_strategy.py).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

from qlora_check.errors import MatrixError
from qlora_check.matrix.axes import AxisValue
from qlora_check.matrix.cell import Cell
from qlora_check.matrix.cost import relative_cost
from qlora_check.matrix.model import Matrix
from qlora_check.matrix.pairwise import Predicate, covering_array

MAX_COMBINATIONS = 100_000


@dataclass(frozen=True)
class Expansion:
    """The cells of a matrix, which of them an include entry wrote on its own, and the uncoverable tuples."""

    cells: list[Cell]
    explicit: frozenset[str] = frozenset()
    impossible: tuple[dict[str, AxisValue], ...] = ()


@dataclass
class _Combination:
    original: dict[str, AxisValue]
    added: dict[str, AxisValue] = field(default_factory=dict)

    def accepts(self, entry: dict[str, AxisValue]) -> bool:
        """An include entry extends a combination unless it contradicts an original value."""
        return all(self.original[name] == value for name, value in entry.items() if name in self.original)

    def merged(self) -> dict[str, AxisValue]:
        return {**self.original, **self.added}


def expand_values(matrix: Matrix, is_runnable: Predicate | None = None) -> list[dict[str, AxisValue]]:
    """The combinations of a matrix as partial value dicts, in file order (defaults not filled)."""
    originals, standalone, _ = _expand(matrix, is_runnable)
    return originals + standalone


def _expand(
    matrix: Matrix, is_runnable: Predicate | None
) -> tuple[list[dict[str, AxisValue]], list[dict[str, AxisValue]], tuple[dict[str, AxisValue], ...]]:
    """(extended original combinations, include entries of their own, tuples no runnable row holds)."""
    names = list(matrix.axes)
    for index, entry in enumerate(matrix.exclude):
        unknown = [name for name in entry if name not in matrix.axes]
        if unknown:
            raise MatrixError(
                f"exclude[{index}]: {unknown[0]!r} is not an axis of this matrix (axes: {', '.join(names) or 'none'})",
                tip="exclude can only remove combinations of the matrix's own axes",
            )
    impossible: tuple[dict[str, AxisValue], ...] = ()
    if matrix.strategy.strength and names:
        array = covering_array(
            matrix.axes, _allowed(matrix, is_runnable), strength=matrix.strategy.strength, cost=relative_cost
        )
        combinations = [_Combination(values) for values in array.rows]
        impossible = array.impossible
    else:
        combinations = _product(matrix)
    standalone: list[dict[str, AxisValue]] = []
    for entry in matrix.include:
        extended = False
        for combination in combinations:
            if combination.accepts(entry):
                combination.added.update({k: v for k, v in entry.items() if k not in combination.original})
                extended = True
        if not extended:
            standalone.append(dict(entry))
    return [combination.merged() for combination in combinations], standalone, impossible


def _product(matrix: Matrix) -> list[_Combination]:
    size = math.prod(len(values) for values in matrix.axes.values())
    if size > MAX_COMBINATIONS:
        raise MatrixError(
            f"the axes multiply out to {size:,} combinations (at most {MAX_COMBINATIONS:,})",
            tip="split the matrix, use include for sparse combinations, or `strategy: pairwise`",
        )
    names = list(matrix.axes)
    combinations: list[_Combination] = []
    if names:
        for product in itertools.product(*(matrix.axes[name] for name in names)):
            values = dict(zip(names, product, strict=True))
            if not any(_partially_matches(values, entry) for entry in matrix.exclude):
                combinations.append(_Combination(values))
    return combinations


def _allowed(matrix: Matrix, is_runnable: Predicate | None) -> Predicate:
    """A covering array's rows: not excluded by the user, and runnable when the caller can tell."""

    def allowed(values: dict[str, AxisValue]) -> bool:
        if any(_partially_matches(values, entry) for entry in matrix.exclude):
            return False
        return is_runnable is None or is_runnable(values)

    return allowed


def expand_matrix(matrix: Matrix, is_runnable: Predicate | None = None) -> Expansion:
    """The cells of a matrix, defaults filled, duplicates (same id) kept once in first order.

    ``is_runnable`` (partial values -> bool) steers a pairwise / n-wise strategy towards cells that can
    run; the product ignores it (the plan prunes n/a cells from it and counts them).
    """
    originals, standalone, impossible = _expand(matrix, is_runnable)
    cells: dict[str, Cell] = {}
    for values in originals:
        cell = Cell.from_values(values)
        cells.setdefault(cell.id, cell)
    explicit: set[str] = set()
    for values in standalone:
        cell = Cell.from_values(values)
        if cells.setdefault(cell.id, cell) is cell:
            explicit.add(cell.id)
    return Expansion(list(cells.values()), frozenset(explicit), impossible)


def expand(matrix: Matrix) -> list[Cell]:
    """The cells of a matrix, defaults filled, duplicates (same id) kept once in first order."""
    return expand_matrix(matrix).cells


def _partially_matches(values: dict[str, AxisValue], entry: dict[str, AxisValue]) -> bool:
    return all(values.get(name) == value for name, value in entry.items())
