"""The runner extension point: how a cell trains. `builtin` runs an engine; another runner (issue: a
user's trainer command) is one more module with a `RunnerSpec` and one registry line."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from qlora_check.errors import QloraCheckError

if TYPE_CHECKING:
    from qlora_check.engines.interface import CellContext, EngineOutput
    from qlora_check.matrix.cell import Cell

RunFunction = Callable[["Cell", "CellContext"], "EngineOutput"]


class RunnerError(QloraCheckError):
    """A runner was configured in a way it cannot run (bad input, caught before any cell runs)."""


@dataclass(frozen=True)
class RunnerSpec:
    """A runner: its name, what it is, and the ``"module:attr"`` of its ``run(cell, context)`` (imported in
    the cell's own process only)."""

    name: str
    description: str
    run: str

    def load(self) -> RunFunction:
        module_name, _, attribute = self.run.partition(":")
        function: RunFunction = getattr(importlib.import_module(module_name), attribute)
        return function
