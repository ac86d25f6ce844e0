"""The engine interface: run one cell on one framework and report what happened."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qlora_check.matrix.cell import Cell
from qlora_check.results.models import CheckResult


@dataclass(frozen=True)
class CellContext:
    """What an engine gets besides the cell: a scratch directory and run-level settings."""

    work_dir: Path
    learned_margin: float = 0.2
    max_memory_mb: int | None = None


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
