"""Pivot summaries: cells grouped by the values of some row axes and some column axes.

A pivot cell holding several results shows their statuses as counts and takes the worst status
(`SEVERITY` order) as its colour. The HTML page pivots in the browser; this is the same grouping for
report.json, summary.md and tests.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from qlora_check.reports.model import value_sort_key
from qlora_check.results.models import SEVERITY, CellResult, Status

Key = tuple[str, ...]


def worst_status(statuses: Iterable[Status]) -> Status | None:
    """The most severe of ``statuses`` (crash before fail before pass before skip before n/a)."""
    present = set(statuses)
    return next((status for status in SEVERITY if status in present), None)


@dataclass
class PivotEntry:
    """The results that share one row key and one column key."""

    cell_ids: list[str] = field(default_factory=list)
    counts: Counter[Status] = field(default_factory=Counter)

    @property
    def worst(self) -> Status | None:
        return worst_status(self.counts)

    def to_dict(self, row: Key, column: Key) -> dict[str, Any]:
        worst = self.worst
        return {
            "row": list(row),
            "column": list(column),
            "worst": worst.value if worst else None,
            "counts": {status.value: self.counts[status] for status in SEVERITY if self.counts[status]},
            "cell_ids": list(self.cell_ids),
        }


@dataclass
class Pivot:
    rows: tuple[str, ...]
    columns: tuple[str, ...]
    row_keys: list[Key]
    column_keys: list[Key]
    entries: dict[tuple[Key, Key], PivotEntry]

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": list(self.rows),
            "columns": list(self.columns),
            "row_keys": [list(key) for key in self.row_keys],
            "column_keys": [list(key) for key in self.column_keys],
            "entries": [
                self.entries[(row, column)].to_dict(row, column)
                for row in self.row_keys
                for column in self.column_keys
                if (row, column) in self.entries
            ],
        }


def pivot(results: Sequence[CellResult], rows: Sequence[str], columns: Sequence[str]) -> Pivot:
    """Group ``results`` by their values on ``rows`` x ``columns`` (values shown as text)."""
    entries: dict[tuple[Key, Key], PivotEntry] = {}
    raw: dict[Key, list[Any]] = {}
    for result in results:
        row = _key(result, rows, raw)
        column = _key(result, columns, raw)
        entry = entries.setdefault((row, column), PivotEntry())
        entry.cell_ids.append(result.cell_id)
        entry.counts[result.status] += 1
    row_keys = sorted({row for row, _ in entries}, key=lambda key: _order(key, rows, raw))
    column_keys = sorted({column for _, column in entries}, key=lambda key: _order(key, columns, raw))
    return Pivot(tuple(rows), tuple(columns), row_keys, column_keys, entries)


def _key(result: CellResult, axes: Sequence[str], raw: dict[Key, list[Any]]) -> Key:
    values = [result.values.get(axis) for axis in axes]
    key = tuple(str(value) for value in values)
    raw.setdefault(key, values)
    return key


def _order(key: Key, axes: Sequence[str], raw: dict[Key, list[Any]]) -> list[tuple[int, float, str]]:
    return [value_sort_key(axis, value) for axis, value in zip(axes, raw[key], strict=True)]
