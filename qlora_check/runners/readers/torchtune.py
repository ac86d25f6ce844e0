"""torchtune: the DiskLogger file `OUTPUT_DIR/logs/log_<unix time>.txt`.

`DiskLogger.log_dict` writes `Step {step} | ` then `{name}:{value} ` per metric and a newline, so a
LoRA recipe's line reads `Step 1 | loss:5.98416 lr:0.00997 tokens_per_second_per_gpu:… `. The console
(StdoutLogger) prints the same line, which is read when there is no log file.
"""

from __future__ import annotations

import re

from qlora_check.runners.readers.interface import (
    MetricPoint,
    MetricsReader,
    ReaderInput,
    ReadReport,
    relative,
    to_float,
)
from qlora_check.runners.readers.text import console_lines, newest

_LINE = re.compile(r"Step (?P<step>\d+) \| (?P<pairs>.*)")
_PAIR = re.compile(r"(?P<name>[\w/.-]+):(?P<value>\S+)")


class TorchtuneReader(MetricsReader):
    name = "torchtune"

    def read(self, where: ReaderInput) -> ReadReport:
        logs = sorted(where.work_dir.rglob("log_*.txt")) if where.work_dir.is_dir() else []
        path = newest(logs) or where.output
        points: list[MetricPoint] = []
        for line in console_lines(path):
            match = _LINE.search(line)
            if match is None:
                continue
            values = {pair["name"]: pair["value"] for pair in _PAIR.finditer(match["pairs"])}
            loss = to_float(values.get("loss"))
            if loss is not None:
                points.append(MetricPoint(step=int(match["step"]), loss=loss, lr=to_float(values.get("lr"))))
        return ReadReport(self.name, relative(path, where.work_dir), len(points), tuple(points))


READER = TorchtuneReader()
