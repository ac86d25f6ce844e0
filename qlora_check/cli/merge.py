"""`qlora-check merge RUN_DIR... --out DIR`: shard runs combined into one run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from qlora_check.cli.common import console, status_text, user_errors
from qlora_check.results.merge import merge_runs


@user_errors
def merge(
    runs: Annotated[list[Path], typer.Argument(help="run directories to combine (e.g. one per shard)")],
    out: Annotated[Path, typer.Option(help="the merged run directory to write")],
) -> None:
    """Combine shard runs into one run directory. Exit code 1 when runs disagree about a cell."""
    outcome = merge_runs(runs, out)
    counts = ", ".join(f"{status_text(s)} {n}" for s, n in outcome.counts.items() if n)
    console.print(f"merged {len(runs)} runs, {len(outcome.results)} cells: {counts}\nrun directory: {escape(str(out))}")
    for conflict in outcome.conflicts:
        console.print(f"[yellow]conflict:[/] {escape(conflict)}")
    raise typer.Exit(1 if outcome.conflicts else 0)
