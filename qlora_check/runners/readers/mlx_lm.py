"""mlx-lm's `lora` command: its console table, or the older one-line reports.

mlx-lm 0.32 prints a table row per report (`--steps-per-report 1` for every step) with ANSI codes even
under NO_COLOR=1: `     12    5.676 ▲    1,539      0.5k` (iter, train loss, trend, tok/s, tokens), and
validation rows `     15    val 4.600    0.19s`, which are not training steps. Older releases print
`Iter 10: Train loss 2.345, Learning Rate 1.000e-05, It/sec …`. It writes no metrics file.
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
from qlora_check.runners.readers.text import NUMBER, console_lines

_TABLE_ROW = re.compile(rf"^\s*(?P<step>\d+)\s+(?P<loss>{NUMBER})\s+[▲▼=]?\s")
_OLD_LINE = re.compile(
    rf"Iter (?P<step>\d+): Train loss (?P<loss>{NUMBER})(?:, Learning Rate (?P<lr>{NUMBER}))?", re.IGNORECASE
)


class MlxLmReader(MetricsReader):
    name = "mlx-lm"

    def read(self, where: ReaderInput) -> ReadReport:
        points: list[MetricPoint] = []
        for line in console_lines(where.output):
            match = _TABLE_ROW.match(line) or _OLD_LINE.search(line)
            if match is None:
                continue
            loss = to_float(match["loss"])
            if loss is not None:
                lr = to_float(match.groupdict().get("lr"))
                points.append(MetricPoint(step=int(match["step"]), loss=loss, lr=lr))
        return ReadReport(self.name, relative(where.output, where.work_dir), len(points), tuple(points))


READER = MlxLmReader()
