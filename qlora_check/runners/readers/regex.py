"""Any other trainer: a regular expression with named groups `loss` (required), `step` and `lr`.

It is applied to every line of the trainer's console output (or of `file`, a glob under the work dir;
the newest match is read). Without a `step` group points are numbered in order.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from qlora_check.runners.readers.interface import (
    MetricPoint,
    MetricsReader,
    ReaderError,
    ReaderInput,
    ReadReport,
    relative,
    to_float,
)
from qlora_check.runners.readers.text import console_lines, newest


def _compiled(pattern: str) -> re.Pattern[str]:
    try:
        compiled = re.compile(pattern)
    except re.error as error:
        raise ReaderError(f"metrics regex {pattern!r} does not compile: {error}") from None
    if "loss" not in compiled.groupindex:
        raise ReaderError(f"metrics regex {pattern!r} has no named group 'loss' (write (?P<loss>...))")
    unknown = set(compiled.groupindex) - {"loss", "step", "lr"}
    if unknown:
        raise ReaderError(f"metrics regex groups are step, loss and lr; unknown: {', '.join(sorted(unknown))}")
    return compiled


class RegexReader(MetricsReader):
    name = "regex"
    options = ("pattern", "file")

    def __init__(self, pattern: str | None = None, file: str | None = None) -> None:
        self.pattern: re.Pattern[str] | None = None
        self.file = file
        if pattern is not None:
            self.pattern = _compiled(pattern)

    def configure(self, options: Mapping[str, str]) -> MetricsReader:
        super().configure(options)
        if "pattern" not in options:
            raise ReaderError("metrics reader regex needs a pattern: metrics: {regex: '(?P<loss>...)'}")
        return RegexReader(options["pattern"], options.get("file"))

    def read(self, where: ReaderInput) -> ReadReport:
        if self.pattern is None:
            raise ReaderError("metrics reader regex was not given a pattern")
        path = where.output
        if self.file is not None:
            found = newest(sorted(where.work_dir.glob(self.file))) if where.work_dir.is_dir() else None
            path = found or where.work_dir / self.file
        points: list[MetricPoint] = []
        for line in console_lines(path):
            match = self.pattern.search(line)
            if match is None:
                continue
            loss = to_float(match["loss"])
            if loss is None:
                continue
            groups = match.groupdict()
            step = groups.get("step")
            points.append(
                MetricPoint(
                    step=int(step) if step is not None and step.isdigit() else len(points) + 1,
                    loss=loss,
                    lr=to_float(groups.get("lr")),
                )
            )
        return ReadReport(self.name, relative(path, where.work_dir), len(points), tuple(points))


READER = RegexReader()
