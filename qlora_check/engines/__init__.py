"""Engines: the code that runs one cell on one framework, found through a lazy registry."""

from __future__ import annotations

from qlora_check.engines.interface import CellContext, Engine, EngineOutput
from qlora_check.registry import LazyRegistry

ENGINES = LazyRegistry(
    "engine",
    {
        "torch": "qlora_check.engines.torch_engine.engine:TorchEngine",
        "mlx": "qlora_check.engines.mlx_engine.engine:MlxEngine",
    },
)


def load_engine(name: str) -> Engine:
    """A fresh instance of the engine registered as ``name``."""
    engine_class = ENGINES.load(name)
    engine: Engine = engine_class()
    return engine


__all__ = ["ENGINES", "CellContext", "Engine", "EngineOutput", "load_engine"]
