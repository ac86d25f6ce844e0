"""The validated, normalised matrix as the rest of qlora-check sees it (no pydantic here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qlora_check.matrix.axes import AxisValue
from qlora_check.matrix.runners import RunnerDefinition


@dataclass(frozen=True)
class ExpectRule:
    """A partial match of axis values and the status such cells are expected to end with."""

    match: dict[str, AxisValue]
    status: str
    reason: str
    link: str | None = None
    strict: bool = False

    def matches(self, values: dict[str, AxisValue]) -> bool:
        return all(values.get(name) == value for name, value in self.match.items())


@dataclass(frozen=True)
class Settings:
    """Run-level settings from the matrix; CLI options override them."""

    timeout: float = 600.0
    jobs: int | None = None
    max_memory_mb: int | None = None
    retries: int = 0
    log_max_bytes: int = 2_000_000
    learned_margin: float = 0.2


@dataclass(frozen=True)
class Strategy:
    """How axes become combinations: the full product (strength 0) or a covering array of ``strength``."""

    strength: int = 0

    @property
    def name(self) -> str:
        return {0: "product", 2: "pairwise"}.get(self.strength, f"{self.strength}-wise")

    def to_dict(self) -> str | dict[str, int]:
        return self.name if self.strength in (0, 2) else {"nwise": self.strength}


PRODUCT = Strategy()


@dataclass(frozen=True)
class Matrix:
    """A matrix file, validated: original axes with their value lists, exclude, include, expect."""

    name: str
    axes: dict[str, list[AxisValue]]
    exclude: list[dict[str, AxisValue]] = field(default_factory=list)
    include: list[dict[str, AxisValue]] = field(default_factory=list)
    expect: list[ExpectRule] = field(default_factory=list)
    settings: Settings = field(default_factory=Settings)
    strategy: Strategy = PRODUCT
    description: str = ""
    path: Path | None = None
    source: str = ""
    runners: dict[str, RunnerDefinition] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "path": str(self.path) if self.path else None,
            "strategy": self.strategy.to_dict(),
            "axes": self.axes,
            "exclude": self.exclude,
            "include": self.include,
            "expect": [rule.__dict__ for rule in self.expect],
            "settings": self.settings.__dict__,
            "runners": {name: runner.public_dict() for name, runner in self.runners.items()},
        }
