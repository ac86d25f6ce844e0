"""Hugging Face Trainer (TRL, plain transformers): `trainer_state.json`, else the logged dicts on stdout.

`trainer_state.json` is written only inside `checkpoint-N/` (so the command needs `--save_strategy steps
--save_steps N`); its `log_history` holds one entry per logging step with `loss`, `learning_rate` and
`step`. Without it, the console dicts are read: `{'loss': '5.886', 'learning_rate': '0.01', …}` (values
are strings in transformers 5, numbers before). The final summary dict has `train_loss`, not `loss`, and
evaluation dicts `eval_loss`: neither is a training step.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

from qlora_check.runners.readers.interface import (
    MetricPoint,
    MetricsReader,
    ReaderInput,
    ReadReport,
    relative,
    to_float,
)
from qlora_check.runners.readers.text import console_lines

_DICT = re.compile(r"\{[^{}]*'loss':[^{}]*\}")


def _state_files(work_dir: Path) -> list[Path]:
    return sorted(work_dir.rglob("trainer_state.json")) if work_dir.is_dir() else []


def _global_step(path: Path) -> int:
    try:
        step = json.loads(path.read_text(encoding="utf-8")).get("global_step", -1)
    except (OSError, json.JSONDecodeError, AttributeError):
        return -1
    return step if isinstance(step, int) else -1


def _point(entry: dict[str, Any], fallback_step: int) -> MetricPoint | None:
    loss = to_float(entry.get("loss"))
    if loss is None:
        return None
    step = entry.get("step")
    return MetricPoint(
        step=step if isinstance(step, int) and not isinstance(step, bool) else fallback_step,
        loss=loss,
        lr=to_float(entry.get("learning_rate")),
    )


class HfReader(MetricsReader):
    name = "hf"

    def read(self, where: ReaderInput) -> ReadReport:
        states = _state_files(where.work_dir)
        if states:
            latest = max(states, key=lambda path: (_global_step(path), str(path)))  # the last checkpoint
            return self._from_state(latest, where)
        return self._from_console(where)

    def _from_state(self, path: Path, where: ReaderInput) -> ReadReport:
        try:
            history = json.loads(path.read_text(encoding="utf-8")).get("log_history", [])
        except (OSError, json.JSONDecodeError, AttributeError):
            history = []
        points = [
            point
            for index, entry in enumerate(history if isinstance(history, list) else [], 1)
            if isinstance(entry, dict) and (point := _point(entry, index)) is not None
        ]
        return ReadReport(self.name, relative(path, where.work_dir), len(points), tuple(points))

    def _from_console(self, where: ReaderInput) -> ReadReport:
        points: list[MetricPoint] = []
        for line in console_lines(where.output):
            for text in _DICT.findall(line):
                try:
                    entry = ast.literal_eval(text)
                except (ValueError, SyntaxError):
                    continue
                if isinstance(entry, dict) and (point := _point(entry, len(points) + 1)) is not None:
                    points.append(point)
        return ReadReport(self.name, relative(where.output, where.work_dir), len(points), tuple(points))


READER = HfReader()
