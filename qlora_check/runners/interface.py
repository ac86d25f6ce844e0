"""The runner extension point: how a cell trains. `builtin` runs an engine; another runner (issue: a
user's trainer command) is one more module with a `RunnerSpec` and one registry line."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from qlora_check.errors import QloraCheckError

if TYPE_CHECKING:
    from qlora_check.engines.interface import CellContext, EngineOutput
    from qlora_check.matrix.cell import Cell

RunFunction = Callable[["Cell", "CellContext"], "EngineOutput"]


class RunnerError(QloraCheckError):
    """A runner was configured in a way it cannot run (bad input, caught before any cell runs)."""


class CellFailed(Exception):
    """A runner's verdict that the cell did not finish normally: ``status`` is error, crash, timeout or oom.

    A command runner raises it when its trainer could not start, exited non-zero, was killed by a signal,
    ran past its limit or ran out of memory; the worker records ``status`` and ``reason`` as they are, and
    ``log_tail`` (the trainer's output) in place of a traceback, which would only show qlora-check's code.
    """

    def __init__(self, status: str, reason: str, log_tail: str = "", info: dict[str, Any] | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.log_tail = log_tail
        self.info = dict(info or {})


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
