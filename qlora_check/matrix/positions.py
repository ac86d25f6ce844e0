"""Where in the YAML text a place of a matrix is: line and column, for error messages people can act on."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml

from qlora_check.matrix.axes import axis_named


def yaml_position(text: str, path: Sequence[str | int], *, key: bool = False) -> tuple[int, int] | None:
    """(line, column), 1-based, of the node at ``path`` (of its key when ``key``); None when not found."""
    try:
        node: Any = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    key_node: Any = None
    for part in path:
        if isinstance(node, yaml.MappingNode):
            match = next(((k, v) for k, v in node.value if str(k.value) == str(part)), None)
            if match is None:
                return None
            key_node, node = match
        elif isinstance(node, yaml.SequenceNode) and str(part).isdigit() and int(part) < len(node.value):
            key_node, node = None, node.value[int(part)]
        else:
            return None
    target = key_node if key and key_node is not None else node
    if target is None:
        return None
    return target.start_mark.line + 1, target.start_mark.column + 1


def refine(location: list[str], document: Any) -> list[str]:
    """A deeper location for errors pydantic reports on a whole axes mapping or include/exclude entry:
    the first key (or list item) that does not validate."""
    if not location or not isinstance(document, dict):
        return location
    section = location[0]
    if section == "axes" and len(location) == 1 and isinstance(document.get("axes"), dict):
        return _first_bad_axis(["axes"], document["axes"], lists=True)
    entries = document.get(section)
    if section in ("include", "exclude") and len(location) == 1 and isinstance(entries, list):
        for index, entry in enumerate(entries):
            if isinstance(entry, dict):
                found = _first_bad_axis([section, str(index)], entry, lists=False)
                if len(found) > 2:
                    return found
    return location


def _first_bad_axis(prefix: list[str], mapping: dict[Any, Any], *, lists: bool) -> list[str]:
    for name, raw in mapping.items():
        try:
            axis = axis_named(str(name))
        except ValueError:
            return [*prefix, str(name)]
        values = raw if lists and isinstance(raw, list) else [raw]
        for index, value in enumerate(values):
            try:
                axis.normalise(value)
            except ValueError:
                return [*prefix, str(name), *([str(index)] if lists and isinstance(raw, list) else [])]
    return prefix
