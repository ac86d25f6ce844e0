"""Live tensor bytes at every operator, without an allocator: what a CPU (or meta) step really holds.

A dispatch mode sees every tensor an operator returns; a storage counts once from its first appearance
until it dies (a weak reference to the storage, checked at each operator). The peak is the most bytes alive
at any operator boundary, per phase. Kernel-internal scratch memory is not seen (it never becomes a tensor).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch.multiprocessing.reductions import StorageWeakRef
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

METHOD = "tensor-byte accounting (torch dispatch mode, live storages at each operator)"


class LiveBytes(TorchDispatchMode):  # type: ignore[misc]
    """Counts the bytes of live tensor storages; ``phase`` names where the next operators run."""

    def __init__(self) -> None:
        super().__init__()
        self._adopted: dict[int, int] = {}
        self._live: dict[int, tuple[StorageWeakRef, int]] = {}
        self.current = 0
        self.phase = "setup"
        self.peaks: dict[str, int] = {}

    def adopt(self, tensors: Iterable[torch.Tensor]) -> None:
        """Count tensors that exist before the mode (weights, quantization state) as alive for good."""
        for tensor in tensors:
            storage = tensor.untyped_storage()
            if storage._cdata not in self._adopted:
                self._adopted[storage._cdata] = storage.nbytes()
                self.current += storage.nbytes()

    def enter_phase(self, phase: str) -> None:
        self._collect()
        self.phase = phase
        self.peaks[phase] = max(self.peaks.get(phase, 0), self.current)

    def bytes_of(self, tensors: Iterable[torch.Tensor]) -> int:
        """Bytes of the distinct storages behind ``tensors``."""
        seen: dict[int, int] = {}
        for tensor in tensors:
            storage = tensor.untyped_storage()
            seen[storage._cdata] = storage.nbytes()
        return sum(seen.values())

    def _collect(self) -> None:
        dead = [key for key, (ref, _) in self._live.items() if ref.expired()]
        for key in dead:
            self.current -= self._live.pop(key)[1]

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        self._collect()
        for value in tree_flatten(out)[0]:
            if not isinstance(value, torch.Tensor):
                continue
            storage = value.untyped_storage()
            key = storage._cdata
            if key in self._live or key in self._adopted:
                continue
            self._live[key] = (StorageWeakRef(storage), storage.nbytes())
            self.current += storage.nbytes()
        if self.current > self.peaks.get(self.phase, 0):
            self.peaks[self.phase] = self.current
        return out
