"""What the plan needs to know about command runners, without running anything: their n/a rule and the
check of their `metrics:` readers (bad input, with the YAML line, before any cell starts)."""

from __future__ import annotations

from qlora_check.errors import MatrixError
from qlora_check.matrix.cell import Cell
from qlora_check.matrix.model import Matrix
from qlora_check.matrix.positions import yaml_position
from qlora_check.matrix.runners import RunnerDefinition
from qlora_check.runners.readers import make_reader
from qlora_check.runners.readers.interface import ReaderError


def value_text(value: object) -> str:
    """An axis value as a runner sees it: in argv, in `args:` and `supports:` keys."""
    if isinstance(value, bool):
        return str(value).lower()
    return repr(value) if isinstance(value, float) else str(value)


def not_applicable_reason(cell: Cell, definition: RunnerDefinition) -> str | None:
    """Why the runner cannot run this cell by definition (its `supports:`), or None."""
    for axis, supported in definition.supports.items():
        value = value_text(cell.values[axis])
        if value not in supported:
            return f"runner {definition.name} does not run {axis} {value}"
    if cell.typed.world_size > 1:  # the hook for ranks is command_env.distributed_env
        return f"runner {definition.name} runs one process per cell, not world_size {cell.typed.world_size}"
    return None


def check_definitions(matrix: Matrix) -> None:
    """Every runner's reader exists and is configured right; MatrixError naming the YAML line otherwise."""
    for name, definition in matrix.runners.items():
        try:
            make_reader(definition.metrics)
        except ReaderError as exc:
            position = yaml_position(matrix.source, ["runners", name, "metrics"])
            where = f"runners.{name}.metrics" + (f" (line {position[0]}, column {position[1]})" if position else "")
            source = matrix.path or "<matrix>"
            raise MatrixError(f"{source}: {where}: {exc}", tip="see docs/runners.md for the readers") from None
