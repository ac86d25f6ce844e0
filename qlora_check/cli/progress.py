"""Renders run events: a Rich progress bar with counts by status, then a summary table."""

from __future__ import annotations

from collections import Counter
from types import TracebackType

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from qlora_check.cli.common import status_text
from qlora_check.events import CellFinished, CellStarted, Event, Notice, RunStarted
from qlora_check.results.models import CellResult, Status


class RunProgress:
    """An observer of run events that draws progress on ``console``."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.counts: Counter[Status] = Counter()
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[counts]}"),
            console=console,
            transient=False,
        )
        self.task = self.progress.add_task("cells", total=None, counts="")

    def __enter__(self) -> RunProgress:
        self.progress.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.progress.stop()

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self.progress.update(self.task, total=event.cells)
            self.console.print(f"run directory: {escape(str(event.run_dir))} ({event.jobs} parallel slots)")
        elif isinstance(event, CellStarted):
            self.progress.update(self.task, description=escape(event.cell.label)[:60])
        elif isinstance(event, CellFinished):
            self.counts[event.result.status] += 1
            counts = "  ".join(status_text(status) + f" {n}" for status, n in sorted(self.counts.items()))
            self.progress.update(self.task, advance=1, counts=counts)
            if event.result.fails_run or event.result.status is Status.XPASS:
                self.console.print(
                    f"{status_text(event.result.status)} {escape(event.result.label)}: "
                    f"{escape(event.result.reason[:200])}"
                )
        elif isinstance(event, Notice):
            self.console.print(f"[yellow]{escape(event.message)}[/]")


def summary_table(results: list[CellResult]) -> Table:
    table = Table(title="results", title_justify="left")
    for column in ("cell", "status", "final loss", "peak MiB", "tok/s", "reason"):
        table.add_column(column, overflow="fold")
    for result in results:
        final_loss = f"{result.losses[-1]:.3f}" if result.losses else ""
        peak = result.memory.get("peak_rss_mb")
        table.add_row(
            escape(result.label),
            status_text(result.status),
            final_loss,
            f"{peak:.1f}" if isinstance(peak, (int, float)) else "",
            f"{result.tokens_per_s:,.0f}" if result.tokens_per_s else "",
            escape(result.reason[:160]),
        )
    return table
