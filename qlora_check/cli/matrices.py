"""`qlora-check matrices`: the matrices bundled with qlora-check, and what each would do on this host."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from qlora_check.cli.common import console, user_errors
from qlora_check.doctor.host_view import detect_host_capabilities
from qlora_check.execution.plan import PlanKind, build_plan
from qlora_check.matrix.bundled import DEFAULT_MATRIX, bundled_names, bundled_path
from qlora_check.matrix.loader import load_matrix


@user_errors
def matrices(
    as_json: Annotated[bool, typer.Option("--json", help="print the list as JSON for machines")] = False,
) -> None:
    """List the bundled matrices (run one with `qlora-check run NAME`) and their cell counts on this host."""
    host = detect_host_capabilities()
    rows = []
    for name in bundled_names():
        matrix = load_matrix(bundled_path(name))
        plan = build_plan(matrix, host)
        counts = {kind.value: sum(entry.planned is kind for entry in plan.cells) for kind in PlanKind}
        rows.append(
            {
                "name": name,
                "description": matrix.description,
                "strategy": plan.strategy,
                "cells": len(plan.cells),
                **counts,
                "n/a_left_out": len(plan.pruned),
                "path": str(bundled_path(name)),
            }
        )
    if as_json:
        typer.echo(json.dumps({"schema_version": 1, "default": DEFAULT_MATRIX, "matrices": rows}, indent=2))
        return
    table = Table(title="bundled matrices (cell counts on this host)", title_justify="left")
    for column in ("name", "strategy", "cells", "run", "skip", "n/a", "n/a left out"):
        table.add_column(column, justify="left" if column in ("name", "strategy") else "right")
    table.add_column("description", overflow="fold")
    for row in rows:
        name = f"{row['name']} (default)" if row["name"] == DEFAULT_MATRIX else str(row["name"])
        table.add_row(
            escape(name),
            str(row["strategy"]),
            str(row["cells"]),
            f"[green]{row[PlanKind.RUN.value]}[/]",
            f"[yellow]{row['skip']}[/]",
            str(row["n/a"]),
            str(row["n/a_left_out"]),
            escape(str(row["description"])),
        )
    console.print(table)
    console.print("qlora-check run NAME runs one; qlora-check run (no argument) runs the default.")
