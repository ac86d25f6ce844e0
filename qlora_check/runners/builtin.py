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
    if cell.typed.distributed != "none":
        return _run_ranks(cell, context)
    return load_engine(engine_for_backend(cell.typed.backend).name).run(cell, context)


def _run_ranks(cell: Cell, context: CellContext) -> EngineOutput:
    """``world_size`` ranks of the torch engine's model (`qlora_check.distributed`), plus their reference."""
    from qlora_check.distributed.cell import DEFAULT_TIMEOUT_S, DistributedRequest, run_distributed

    backend = cell.typed.backend
    request = DistributedRequest(
        values=cell.values,
        work_dir=context.work_dir,
        timeout_s=context.timeout_s or DEFAULT_TIMEOUT_S,
        device_kind=engine_for_backend(backend).resource_of(backend),
        learned_margin=context.learned_margin,
        attempt=context.attempt,
        fault=context.fault,
    )
    return run_distributed(request)
