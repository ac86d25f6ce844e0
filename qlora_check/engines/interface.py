"""The engine extension point: what an engine is (`EngineSpec`) and what it does (`Engine.run`).

A spec is plain data (no framework import): plan, doctor, the fork server and the scheduler read it; the
`Engine` class it names is imported only in a cell's own process.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from qlora_check.matrix.cell import Cell
from qlora_check.results.models import CheckResult


@dataclass(frozen=True)
class CellContext:
    """What an engine gets besides the cell: a scratch directory and run-level settings."""

    work_dir: Path
    learned_margin: float = 0.2
    max_memory_mb: int | None = None
    threads: int = 1  # the cell's granted compute threads (a command runner pins its trainer to them)
    runner: dict[str, Any] | None = None  # a command runner's definition (`RunnerDefinition.to_dict()`)


@dataclass
class EngineOutput:
    """What an engine measured and checked; the worker turns it into a `CellResult`."""

    losses: list[float] = field(default_factory=list)
    lrs: list[float] = field(default_factory=list)
    checks: list[CheckResult] = field(default_factory=list)
    memory: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    tokens_per_s: float | None = None
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class TrainRecord:
    """What a training loop recorded: one loss and one learning rate per optimizer step."""

    losses: list[float] = field(default_factory=list)
    lrs: list[float] = field(default_factory=list)
    train_s: float = 0.0
    tokens: int = 0


class Engine(ABC):
    """Runs cells of one framework. Implementations import their framework lazily, in the worker."""

    name: str

    @abstractmethod
    def run(self, cell: Cell, context: CellContext) -> EngineOutput:
        """Train the cell for real and compute its checks; raise on errors (the worker records them)."""


ResourceKind = Literal["cpu", "cuda", "metal"]


@dataclass(frozen=True)
class Requirement:
    """A library an engine cannot run without: the module to import, the distribution and how to install it."""

    module: str
    distribution: str
    hint: str


@dataclass(frozen=True)
class EngineSpec:
    """One engine, as plan, doctor, the fork server and the scheduler need to know it.

    ``train_types``, ``precisions`` and ``optimizers`` are what the engine supports (any other value is
    n/a for its cells); ``resources`` maps each backend it serves to the device kind its cells occupy;
    ``preload`` are the modules a fork server imports for its cells; ``fork_safe`` says whether children may
    be forked from a server that preloaded them, ``warm_up`` whether a tiny cell should run there first;
    ``probe`` is the ``"module:attr"`` of its doctor probe, ``probe(backend, family) -> details``.
    """

    name: str
    title: str
    engine: str
    resources: Mapping[str, ResourceKind]
    train_types: tuple[str, ...]
    precisions: tuple[str, ...]
    optimizers: tuple[str, ...]
    requires: tuple[Requirement, ...]
    preload: tuple[str, ...]
    probe: str
    libraries: tuple[str, ...] = ()
    fork_safe: bool = True
    warm_up: bool = False

    @property
    def backends(self) -> tuple[str, ...]:
        return tuple(self.resources)

    def resource_of(self, backend: str) -> ResourceKind:
        return self.resources[backend]
