"""Engines: the code that runs one cell on one framework, found through a typed registry
(plugins: entry-point group `qlora_check.engines`)."""

from __future__ import annotations

import importlib

from qlora_check.engines.interface import CellContext, Engine, EngineOutput, EngineSpec
from qlora_check.errors import UnknownNameError
from qlora_check.names import unknown_name_message
from qlora_check.registry import Registry

ENGINES: Registry[EngineSpec] = Registry(
    "engine",
    EngineSpec,
    {
        "torch": "qlora_check.engines.torch_engine.spec:SPEC",
        "mlx": "qlora_check.engines.mlx_engine.spec:SPEC",
    },
    group="qlora_check.engines",
)


def engine_for_backend(backend: str) -> EngineSpec:
    """The engine that serves ``backend``."""
    for _, spec in ENGINES.items():
        if backend in spec.resources:
            return spec
    known = [name for _, spec in ENGINES.items() for name in spec.backends]
    raise UnknownNameError(unknown_name_message("backend", backend, known))


def load_engine(name: str) -> Engine:
    """A fresh instance of the engine registered as ``name`` (imports its framework)."""
    module_name, _, attribute = ENGINES.get(name).engine.partition(":")
    engine: Engine = getattr(importlib.import_module(module_name), attribute)()
    return engine


__all__ = ["ENGINES", "CellContext", "Engine", "EngineOutput", "EngineSpec", "engine_for_backend", "load_engine"]
