"""`qlora-check report [RUN_DIR]`: render a run's reports again from run.json and results.jsonl (no torch)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from qlora_check.cli.common import console, error_console, user_errors
from qlora_check.errors import ResultsError
from qlora_check.reports import FORMATS, write_report
from qlora_check.reports.model import load_report
from qlora_check.results.store import LATEST


@user_errors
def report(
    run_dir: Annotated[Path | None, typer.Argument(help="run directory (default: ROOT/latest)")] = None,
    root: Annotated[Path, typer.Option(help="reports root, for the default run")] = Path("reports"),
    html: Annotated[bool, typer.Option("--html", help="report.html: the matrix as one self-contained page")] = False,
    json: Annotated[bool, typer.Option("--json", help="report.json: the whole run for machines")] = False,
    junit: Annotated[bool, typer.Option("--junit", help="junit.xml: one testcase per cell")] = False,
    md: Annotated[bool, typer.Option("--md", help="summary.md: counts, failing cells, evidence")] = False,
) -> None:
    """Write the reports of a run into its directory; every format when none is chosen."""
    directory = run_dir if run_dir is not None else root / LATEST
    if not directory.exists():
        tip = "run `qlora-check run MATRIX` first, or name a run directory" if run_dir is None else None
        raise ResultsError(f"{directory}: no such run directory", tip=tip)
    chosen = [name for name, on in (("html", html), ("json", json), ("junit", junit), ("md", md)) if on]
    loaded = load_report(directory)
    for warning in loaded.warnings:
        error_console.print(f"[yellow]warning:[/] {escape(warning)}")
    for path in write_report(loaded, chosen or list(FORMATS)):
        console.print(escape(str(path)), soft_wrap=True)  # a path must stay copyable
