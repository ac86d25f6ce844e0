"""LLaMA-Factory: `OUTPUT_DIR/trainer_log.jsonl`, one line per logging step.

Its LogCallback writes `{"current_steps": 1, "total_steps": 30, "loss": 5.99, "lr": 0.01, "epoch": …}`
(`learning_rate` instead of `lr` in releases before 0.9); evaluation lines carry `eval_loss` and the final
line of a run may have no `loss`: only lines with `loss` are training steps.
"""

from __future__ import annotations

import json

from qlora_check.runners.readers.interface import (
    MetricPoint,
    MetricsReader,
    ReaderInput,
    ReadReport,
    relative,
    to_float,
)
from qlora_check.runners.readers.text import newest


class LlamaFactoryReader(MetricsReader):
    name = "llamafactory"

    def read(self, where: ReaderInput) -> ReadReport:
        path = newest(sorted(where.work_dir.rglob("trainer_log.jsonl"))) if where.work_dir.is_dir() else None
        if path is None:
            return ReadReport(self.name, relative(where.work_dir / "**" / "trainer_log.jsonl", where.work_dir), 0)
        points: list[MetricPoint] = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            loss = to_float(record.get("loss")) if isinstance(record, dict) else None
            if loss is None:
                continue
            step = record.get("current_steps")
            points.append(
                MetricPoint(
                    step=step if isinstance(step, int) else len(points) + 1,
                    loss=loss,
                    lr=to_float(record.get("lr", record.get("learning_rate"))),
                )
            )
        return ReadReport(self.name, relative(path, where.work_dir), len(points), tuple(points))


READER = LlamaFactoryReader()
