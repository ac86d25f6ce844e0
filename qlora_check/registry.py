"""Lazy registries: name -> "module:attr", imported only when asked for (keeps --help fast)."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from qlora_check.errors import UnknownNameError
from qlora_check.names import unknown_name_message


class LazyRegistry:
    """Maps names to ``"package.module:attribute"`` targets, resolved on first use."""

    def __init__(self, kind: str, targets: Mapping[str, str]) -> None:
        self.kind = kind
        self._targets = dict(targets)

    def names(self) -> list[str]:
        return sorted(self._targets)

    def __contains__(self, name: object) -> bool:
        return name in self._targets

    def load(self, name: str) -> Any:
        """Import and return the object registered under ``name``."""
        try:
            target = self._targets[name]
        except KeyError:
            raise UnknownNameError(unknown_name_message(self.kind, name, self._targets)) from None
        module_name, _, attribute = target.partition(":")
        return getattr(importlib.import_module(module_name), attribute)
