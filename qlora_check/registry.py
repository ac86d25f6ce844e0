"""Typed, lazy registries: name -> "module:attr", imported only when asked for (keeps --help fast).

lm-eval's registry, typed: each registry knows the base class its entries must be, suggests the closest
name for a typo, and also finds entries that other packages declare as entry points (group
``qlora_check.engines``, ``qlora_check.quantizers`` or ``qlora_check.runners``): a plugin adds an engine, a
quantizer family or a runner without touching this package.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import threading
from collections.abc import Mapping
from typing import Generic, TypeVar

from qlora_check.errors import QloraCheckError, UnknownNameError
from qlora_check.names import unknown_name_message

T = TypeVar("T")


class RegistryError(QloraCheckError):
    """A registered target cannot be imported, or is not of the registry's kind."""


class Registry(Generic[T]):
    """Maps names to ``"package.module:attribute"`` targets of type ``base``, resolved once, on first use."""

    def __init__(self, kind: str, base: type[T], targets: Mapping[str, str], group: str | None = None) -> None:
        self.kind = kind
        self.base = base
        self.group = group
        self._targets = dict(targets)
        self._loaded: dict[str, T] = {}
        self._items: list[tuple[str, T]] | None = None  # every entry loaded, once asked (planning asks a lot)
        self._plugins_read = group is None
        self._lock = threading.Lock()

    def _plugins(self) -> None:
        """Add the entry points of ``group`` once; names built in win over a plugin's."""
        if self._plugins_read:
            return
        with self._lock:
            if self._plugins_read:
                return
            for entry in importlib.metadata.entry_points(group=self.group or ""):
                self._targets.setdefault(entry.name, entry.value)
            self._plugins_read = True

    def register(self, name: str, target: str) -> None:
        """Add (or replace) an entry; used by tests and by code that builds entries at run time."""
        self._plugins()
        self._targets[name] = target
        self._loaded.pop(name, None)
        self._items = None

    def names(self) -> list[str]:
        self._plugins()
        return list(self._targets)

    def __contains__(self, name: object) -> bool:
        self._plugins()
        return name in self._targets

    def get(self, name: str) -> T:
        """The entry registered as ``name`` (imported on first use)."""
        self._plugins()
        if name in self._loaded:
            return self._loaded[name]
        try:
            target = self._targets[name]
        except KeyError:
            raise UnknownNameError(unknown_name_message(self.kind, name, self._targets)) from None
        module_name, _, attribute = target.partition(":")
        try:
            value = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError) as exc:
            raise RegistryError(f"{self.kind} {name!r}: cannot load {target}: {exc}") from None
        if not isinstance(value, self.base):
            raise RegistryError(
                f"{self.kind} {name!r}: {target} is a {type(value).__name__}, not a {self.base.__name__}"
            )
        self._loaded[name] = value
        return value

    def items(self) -> list[tuple[str, T]]:
        """Every entry, loaded, in registration order (built-ins first, then plugins)."""
        if self._items is None:
            self._items = [(name, self.get(name)) for name in self.names()]
        return list(self._items)
