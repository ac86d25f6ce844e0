"""`qlora-check history [RUNS_ROOT]`: statuses, memory and speed of every cell over the last runs (no torch)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from qlora_check.cli.common import console, error_console, user_errors
from qlora_check.reports.history import DEFAULT_LAST, load_history
from qlora_check.reports.history_html import HISTORY_FILE, write_history


@user_errors
def history(
    root: Annotated[Path, typer.Argument(help="reports root holding runs/")] = Path("reports"),
    last: Annotated[int, typer.Option(min=1, help="how many of the newest runs to show")] = DEFAULT_LAST,
    out: Annotated[Path | None, typer.Option(help="the page to write (default: ROOT/history.html)")] = None,
) -> None:
    """Write history.html: every cell's status, memory and speed over the last runs.

    A cell × run grid of statuses, sparklines of peak memory and tokens/s, and for each cell failing in
    the newest run the last run it passed in and what changed in the environment since. No torch needed.
    """
    loaded = load_history(root, last)
    for warning in loaded.warnings:
        error_console.print(f"[yellow]warning:[/] {escape(warning)}", soft_wrap=True)
    path = write_history(loaded, out if out is not None else root / HISTORY_FILE)
    console.print(
        f"{len(loaded.runs)} runs, {len(loaded.cells)} cells, {len(loaded.failing)} failing now", soft_wrap=True
    )
    console.print(escape(str(path)), soft_wrap=True)  # a path must stay copyable
