"""The metrics-reader interface: a trainer's own output in, `{step, loss, lr}` points out.

A reader never judges: it reports what it read (which file, how many lines matched) so that a cell whose
reader found nothing fails with a reason naming the reader and the file, never passes by accident.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


class ReaderError(ValueError):
    """A reader's configuration is wrong (unknown name, bad regex): bad input, raised before any cell runs."""


@dataclass(frozen=True)
class MetricPoint:
    """One optimizer step as the trainer reported it."""

    step: int
    loss: float
    lr: float | None = None


@dataclass(frozen=True)
class ReaderInput:
    """Where a cell's trainer left its output."""

    work_dir: Path  # the cell's scratch folder; trainers write their output dirs under it
    output: Path  # the trainer's stdout and stderr, merged
    metrics: Path  # the native protocol file ($QLORA_CHECK_METRICS)


@dataclass(frozen=True)
class ReadReport:
    """What a reader found: the points, the file it read and how many lines or records matched."""

    reader: str
    source: str
    matches: int
    points: tuple[MetricPoint, ...] = ()

    @property
    def losses(self) -> list[float]:
        return [point.loss for point in self.points]

    @property
    def lrs(self) -> list[float] | None:
        """The learning rates, only when every point carries one."""
        rates = [point.lr for point in self.points]
        return None if not rates or any(rate is None for rate in rates) else [r for r in rates if r is not None]

    def empty_reason(self) -> str:
        return f"no loss lines found (reader {self.reader} read {self.source}, {self.matches} matches)"

    def to_dict(self) -> dict[str, object]:
        return {"reader": self.reader, "source": self.source, "matches": self.matches, "points": len(self.points)}


class MetricsReader(ABC):
    """Turns one trainer's output into metric points. One module per trainer."""

    name: str
    options: tuple[str, ...] = ()  # the option names `configure` accepts

    def configure(self, options: Mapping[str, str]) -> MetricsReader:
        """This reader set up with a matrix' options (only `regex` takes any)."""
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            allowed = ", ".join(self.options) or "none"
            raise ReaderError(f"metrics reader {self.name} takes no option {', '.join(unknown)} (options: {allowed})")
        return self

    @abstractmethod
    def read(self, where: ReaderInput) -> ReadReport:
        """Read the trainer's output; an empty report (0 matches) when nothing matched, never an exception."""


def to_float(value: object) -> float | None:
    """A number from a trainer's value (transformers 5 logs strings such as '5.886'); None if not one.

    'nan' and 'inf' parse: a diverged run must reach the `finite` check, not vanish here.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def relative(path: Path, root: Path) -> str:
    """``path`` as the report shows it: relative to the work dir when inside it."""
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)

