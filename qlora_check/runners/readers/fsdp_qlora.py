"""fsdp_qlora's `train.py`: the loss lives only in its tqdm description (or in wandb).

`update_progress_bar` sets `Epoch {epoch}, Loss {loss:.3f}, LR {lr:.2e}` (no `LR` before the first step)
with `refresh=True` right after `progress_bar.update(1)`, so each frame on stderr, `\\r`-separated, reads
`Epoch 0, Loss 5.954, LR 5.00e-03:   1%|…| 1/100 [...]`. The frame drawn by `update(1)` still shows the
previous loss at the new count; the description frame that follows replaces it, so the last frame per
count wins. Count 0 (`Loss 0.000` before any step) is not a step.
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

_FRAME = re.compile(
    rf"Epoch (?P<epoch>\d+), Loss (?P<loss>{NUMBER})(?:, LR (?P<lr>{NUMBER}))?:.*?\|\s*(?P<step>\d+)/(?P<total>\d+)"
)


class FsdpQloraReader(MetricsReader):
    name = "fsdp-qlora"

    def read(self, where: ReaderInput) -> ReadReport:
        by_step: dict[int, MetricPoint] = {}
        matches = 0
        for line in console_lines(where.output):
            match = _FRAME.search(line)
            if match is None or int(match["step"]) == 0:
                continue
            loss = to_float(match["loss"])
            if loss is None:
                continue
            matches += 1
            step = int(match["step"])
            by_step[step] = MetricPoint(step=step, loss=loss, lr=to_float(match["lr"]))
        points = tuple(by_step[step] for step in sorted(by_step))
        return ReadReport(self.name, relative(where.output, where.work_dir), matches, points)


READER = FsdpQloraReader()
