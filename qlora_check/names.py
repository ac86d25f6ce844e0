"""Closest-match suggestions for unknown names ("did you mean ...")."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest(name: str, known: Iterable[str]) -> str | None:
    """The known name closest to ``name``, or None when nothing is reasonably close."""
    matches = difflib.get_close_matches(str(name), [str(k) for k in known], n=1, cutoff=0.5)
    return matches[0] if matches else None


def unknown_name_message(kind: str, name: object, known: Iterable[str]) -> str:
    """One line: the unknown name, the known ones, and the closest match if any."""
    known_list = sorted(str(k) for k in known)
    suggestion = closest(str(name), known_list)
    hint = f" Did you mean {suggestion!r}?" if suggestion else ""
    return f"unknown {kind} {name!r}; known: {', '.join(known_list)}.{hint}"
