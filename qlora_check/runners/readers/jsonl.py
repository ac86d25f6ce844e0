"""The native protocol: the trainer appends `{"step", "loss", "lr"?}` lines to $QLORA_CHECK_METRICS.

The shims in `qlora_check.integrations` write it; a script of one's own can too, in one line.
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

METRICS_ENV = "QLORA_CHECK_METRICS"


def protocol_line(step: int, loss: float, lr: float | None = None) -> str:
    """One line of the native protocol (the shims write exactly this)."""
    record: dict[str, object] = {"step": step, "loss": loss}
    if lr is not None:
        record["lr"] = lr
    return json.dumps(record) + "\n"


class JsonlReader(MetricsReader):
    name = "jsonl"

    def read(self, where: ReaderInput) -> ReadReport:
        points: list[MetricPoint] = []
        lines = where.metrics.read_text(encoding="utf-8").splitlines() if where.metrics.is_file() else []
        for number, line in enumerate(lines, 1):
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short by a killed trainer: the others still count
            if not isinstance(record, dict):
                continue
            loss = to_float(record.get("loss"))
            if loss is None:
                continue
            step = record.get("step")
            points.append(
                MetricPoint(
                    step=step if isinstance(step, int) and not isinstance(step, bool) else number,
                    loss=loss,
                    lr=to_float(record.get("lr")),
                )
            )
        return ReadReport(self.name, relative(where.metrics, where.work_dir), len(points), tuple(points))


READER = JsonlReader()
