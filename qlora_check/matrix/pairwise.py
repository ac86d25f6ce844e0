"""Covering arrays: few cells in which every pair (or n-tuple) of axis values that *can* run appears.

Why our own generator rather than a library: the maintained ones we looked at (allpairspy 2.5.1,
covertable 3.2.0) evaluate constraints on *partial* rows while they build them. qlora-check's rule for
"runnable" (not n/a, not skipped on this host) is a function of a whole cell, defaults filled in, so it
can only be asked about complete rows; a partial-row filter would either wrongly reject (an unset
quantizer reads as its default `none`) or accept rows it cannot finish, and allpairspy stops at the first
row that covers nothing new, silently leaving coverable pairs out. We also need the pairs that are
impossible by definition reported, which neither does.

The method (deterministic, no randomness): enumerate the product once and ask the predicate about each
row; every t-tuple that occurs in some runnable row is a target, the others are impossible. Then, hardest
target first (fewest runnable rows contain it), pick among the rows containing it the one that covers the
most uncovered targets (ties: first in product order). This is the AETG greedy with an exact candidate set,
so every coverable tuple ends up covered. Given a ``cost`` per row (`matrix/cost.py`), the pick is the row
with the most uncovered targets per unit of cost instead (the greedy for weighted set cover): the same
coverage, cells that cost less wall time.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from qlora_check.errors import MatrixError
from qlora_check.matrix.axes import AxisValue

Values = dict[str, AxisValue]
Predicate = Callable[[Values], bool]
MAX_ENUMERATED = 400_000
# Scoring every row that holds an easy target costs time and buys little: the easy targets are mostly
# covered by then. A deterministic stride over at most this many candidates keeps generation fast.
MAX_CANDIDATES = 4_000


@dataclass(frozen=True)
class CoveringArray:
    """The rows chosen, in order, and the tuples no runnable row contains."""

    rows: tuple[Values, ...]
    impossible: tuple[Values, ...]
    strength: int
    coverable: int
    enumerated: int


def covering_array(
    axes: Mapping[str, Sequence[AxisValue]],
    is_runnable: Predicate,
    *,
    strength: int = 2,
    cost: Callable[[Values], float] | None = None,
) -> CoveringArray:
    """Rows over ``axes`` such that every ``strength``-tuple found in a runnable row is in a chosen one.

    ``is_runnable`` gets complete rows (every axis of ``axes``, in axis order). Axes with one value are in
    every row; they take part in tuples like any other axis.
    """
    if strength < 1:
        raise ValueError(f"strength must be at least 1, not {strength}")
    names = list(axes)
    choices = [list(axes[name]) for name in names]
    size = math.prod(len(values) for values in choices)
    if size > MAX_ENUMERATED:
        raise MatrixError(
            f"the axes multiply out to {size:,} combinations; pairwise planning reads at most {MAX_ENUMERATED:,}",
            tip="split the matrix or give some axes fewer values",
        )
    width = min(strength, len(names))
    positions = list(itertools.combinations(range(len(names)), width))
    encoders = _encoders(positions, [len(values) for values in choices])

    rows: list[tuple[int, ...]] = []
    row_keys: list[tuple[int, ...]] = []
    holders: dict[int, list[int]] = {}
    for indices in itertools.product(*(range(len(values)) for values in choices)):
        if not is_runnable(_values(names, choices, indices)):
            continue
        keys = tuple(encode(indices) for encode in encoders)
        row_id = len(rows)
        rows.append(indices)
        row_keys.append(keys)
        for key in keys:
            holders.setdefault(key, []).append(row_id)

    costs: dict[int, float] = {}

    def cost_of(row_id: int) -> float:
        if cost is None:
            return 1.0
        if row_id not in costs:
            costs[row_id] = max(cost(_values(names, choices, rows[row_id])), 1e-9)
        return costs[row_id]

    uncovered = set(holders)
    chosen: list[int] = []
    for target in sorted(holders, key=lambda key: (len(holders[key]), key)):
        if target not in uncovered:
            continue
        best = max(
            _candidates(holders[target]),
            key=lambda row_id: (len(uncovered.intersection(row_keys[row_id])) / cost_of(row_id), -row_id),
        )
        chosen.append(best)
        uncovered.difference_update(row_keys[best])

    every_key = range(sum(math.prod(len(choices[p]) for p in combo) for combo in positions))
    impossible = [_decode(key, positions, names, choices) for key in every_key if key not in holders]
    return CoveringArray(
        rows=tuple(_values(names, choices, rows[row_id]) for row_id in chosen),
        impossible=tuple(impossible),
        strength=width,
        coverable=len(holders),
        enumerated=size,
    )


def tuples_of(
    values: Mapping[str, AxisValue], names: Sequence[str], strength: int
) -> set[tuple[tuple[str, AxisValue], ...]]:
    """The ``strength``-tuples of ``values`` over ``names`` (axis order): what a row covers."""
    width = min(strength, len(names))
    return {tuple((name, values[name]) for name in combo) for combo in itertools.combinations(names, width)}


def _values(names: list[str], choices: list[list[AxisValue]], indices: Sequence[int]) -> Values:
    return {name: choices[axis][index] for axis, (name, index) in enumerate(zip(names, indices, strict=True))}


def _candidates(row_ids: list[int]) -> list[int]:
    if len(row_ids) <= MAX_CANDIDATES:
        return row_ids
    stride = math.ceil(len(row_ids) / MAX_CANDIDATES)
    return row_ids[::stride]


def _encoders(positions: list[tuple[int, ...]], sizes: list[int]) -> list[Callable[[Sequence[int]], int]]:
    """One function per axis combination: a row's value indices there -> a unique integer key."""
    encoders: list[Callable[[Sequence[int]], int]] = []
    offset = 0
    for combo in positions:
        encoders.append(_encoder(combo, sizes, offset))
        offset += math.prod(sizes[p] for p in combo)
    return encoders


def _encoder(combo: tuple[int, ...], sizes: list[int], offset: int) -> Callable[[Sequence[int]], int]:
    def encode(indices: Sequence[int]) -> int:
        key = 0
        for position in combo:
            key = key * sizes[position] + indices[position]
        return offset + key

    return encode


def _decode(key: int, positions: list[tuple[int, ...]], names: list[str], choices: list[list[AxisValue]]) -> Values:
    for combo in positions:
        span = math.prod(len(choices[p]) for p in combo)
        if key < span:
            decoded: Values = {}
            for position in reversed(combo):
                key, index = divmod(key, len(choices[position]))
                decoded[names[position]] = choices[position][index]
            return {name: decoded[name] for name in names if name in decoded}
        key -= span
    raise AssertionError("key out of range")  # pragma: no cover - keys come from the same positions
