"""Runners: how a cell trains, found through a typed registry (plugins: entry-point group `qlora_check.runners`)."""

from __future__ import annotations

from qlora_check.registry import Registry
from qlora_check.runners.interface import CellFailed, RunnerError, RunnerSpec

RUNNERS: Registry[RunnerSpec] = Registry(
    "runner",
    RunnerSpec,
    {"builtin": "qlora_check.runners.builtin:SPEC", "command": "qlora_check.runners.command:SPEC"},
    group="qlora_check.runners",
)

__all__ = ["RUNNERS", "CellFailed", "RunnerError", "RunnerSpec"]
