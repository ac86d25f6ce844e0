"""`qlora-check compare RUN_A RUN_B`: regressions, fixes, memory/speed/loss changes, environment diff."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from qlora_check.cli.common import console, user_errors
from qlora_check.errors import QloraCheckError
from qlora_check.reports.compare import FAIL_ON, ChangeKind, Comparison, Thresholds, compare_runs
from qlora_check.reports.compare_markdown import SECTIONS, comparison_markdown

KIND_STYLE = {
    ChangeKind.REGRESSION: "bold red",
    ChangeKind.FIX: "green",
    ChangeKind.DEFAULT_CHANGED: "yellow",
    ChangeKind.STATUS: "yellow",
    ChangeKind.MEMORY: "cyan",
    ChangeKind.SPEED: "cyan",
    ChangeKind.LOSS: "magenta",
    ChangeKind.ADDED: "dim",
    ChangeKind.REMOVED: "dim",
}


@user_errors
def compare(
    run_a: Annotated[Path, typer.Argument(help="the earlier run directory (before)")],
    run_b: Annotated[Path, typer.Argument(help="the later run directory (after)")],
    as_json: Annotated[bool, typer.Option("--json", help="print the comparison as JSON")] = False,
    as_markdown: Annotated[bool, typer.Option("--md", help="print the comparison as Markdown")] = False,
    fail_on: Annotated[str, typer.Option(help="exit 1 on: regression, any-change, never")] = "regression",
    memory_threshold: Annotated[float, typer.Option(min=0, help="relative peak-memory change that counts")] = 0.25,
    speed_threshold: Annotated[float, typer.Option(min=0, help="relative tokens/s change that counts")] = 0.30,
    loss_tolerance: Annotated[float, typer.Option(min=0, help="relative loss-curve drift that counts")] = 0.05,
) -> None:
    """Compare two runs cell by cell (matched by id). Exit code 1 on regressions (see --fail-on)."""
    if fail_on not in FAIL_ON:
        raise QloraCheckError(f"--fail-on {fail_on!r} is not one of {', '.join(FAIL_ON)}")
    comparison = compare_runs(run_a, run_b, Thresholds(memory_threshold, speed_threshold, loss_tolerance))
    if as_json:
        typer.echo(json.dumps(comparison.to_dict(), indent=2))
    elif as_markdown:
        typer.echo(comparison_markdown(comparison), nl=False)
    else:
        render(comparison)
    raise typer.Exit(comparison.exit_code(fail_on))


def render(comparison: Comparison) -> None:
    console.print(f"{comparison.cells_compared} cells compared; {len(comparison.changes)} changes", soft_wrap=True)
    for kind, title in SECTIONS:
        changes = comparison.of_kind(kind)
        if not changes:
            continue
        table = Table(title=f"[{KIND_STYLE[kind]}]{title}[/]", title_justify="left")
        table.add_column("cell", overflow="fold")
        table.add_column("id", style="dim")
        table.add_column("change", overflow="fold")
        for change in changes:
            table.add_row(escape(change.label), change.cell_id, escape(change.detail))
        console.print(table)
    if comparison.environment:
        table = Table(title="environment changes", title_justify="left")
        for column in ("what", "before", "after"):
            table.add_column(column)
        for name, values in comparison.environment.items():
            table.add_row(escape(name), escape(str(values["before"])), escape(str(values["after"])))
        console.print(table)
