"""The `builtin` runner: qlora-check's own training loop, in the engine that serves the cell's backend."""

from __future__ import annotations

from qlora_check.engines import engine_for_backend, load_engine
from qlora_check.engines.interface import CellContext, EngineOutput
from qlora_check.matrix.cell import Cell
from qlora_check.runners.interface import RunnerSpec

SPEC = RunnerSpec(
    name="builtin",
    description="qlora-check's own training loop in the engine for the cell's backend (torch or MLX)",
    run="qlora_check.runners.builtin:run",
)


def run(cell: Cell, context: CellContext) -> EngineOutput:
    return load_engine(engine_for_backend(cell.typed.backend).name).run(cell, context)
