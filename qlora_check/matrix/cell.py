"""A cell: one combination of axis values, with a stable id and a short readable label."""

from __future__ import annotations

import hashlib
import json
import operator
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from qlora_check.matrix.axes import AXES, CORE_AXES, DEFAULTS, ID_LEGACY_VALUES, ID_OPTIONAL_AT_DEFAULT, AxisValue
from qlora_check.matrix.values import CellValues

ID_LENGTH = 12
_AXIS_NAMES = tuple(AXES)
_in_axis_order = operator.itemgetter(*_AXIS_NAMES)  # a pairwise plan builds ~60k cells: this is its hot path


@dataclass(frozen=True)
class Cell:
    """Every axis value of one run, defaults filled in; immutable and hashable.

    The id is a hash of the canonical values only, so the same values give the same id on any
    machine, in any run and whatever the order of keys in the matrix file.
    """

    items: tuple[tuple[str, AxisValue], ...]

    @classmethod
    def from_values(cls, values: Mapping[str, AxisValue]) -> Cell:
        """A cell from (already normalised) partial values; unset axes take their defaults."""
        full = {**DEFAULTS, **values}
        return cls(tuple(zip(_AXIS_NAMES, _in_axis_order(full), strict=True)))

    @property
    def values(self) -> dict[str, AxisValue]:
        return dict(self.items)

    @cached_property
    def typed(self) -> CellValues:
        """The values as typed attributes (``cell.typed.steps`` is an int)."""
        return CellValues.from_mapping(self.values)

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    @cached_property
    def id(self) -> str:
        values = {
            name: _legacy(name, value)
            for name, value in self.values.items()
            if not (name in ID_OPTIONAL_AT_DEFAULT and value == DEFAULTS[name])
        }
        canonical = json.dumps(values, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:ID_LENGTH]

    @cached_property
    def label(self) -> str:
        """Core axes joined by '/', then the knobs that differ from their defaults."""
        values = self.values
        core = "/".join(str(values[name]) for name in CORE_AXES)
        knobs = [f"{name}={values[name]}" for name in AXES if name not in CORE_AXES and values[name] != DEFAULTS[name]]
        return " ".join([core, *knobs])


def _legacy(name: str, value: AxisValue) -> AxisValue:
    """The value a cell id writes: a keyword that replaced a fixed default is written as that old default."""
    keyword, old = ID_LEGACY_VALUES.get(name, (None, None))
    return old if keyword is not None and value == keyword and old is not None else value
