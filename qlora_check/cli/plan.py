"""`qlora-check plan MATRIX`: which cells a matrix expands to, and what would happen to each."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from qlora_check.cli.common import console, user_errors
from qlora_check.doctor.host_view import detect_host_capabilities
from qlora_check.execution.plan import PlanKind, PlannedCell, parse_shard, plan_matrix
from qlora_check.matrix.loader import load_matrix

PLANNED_STYLE = {PlanKind.RUN: "green", PlanKind.NOT_APPLICABLE: "dim", PlanKind.SKIP: "yellow"}


@user_errors
def plan(
    matrix: Annotated[Path, typer.Argument(help="matrix YAML file")],
    as_json: Annotated[bool, typer.Option("--json", help="print the plan as JSON for machines")] = False,
    shard: Annotated[str | None, typer.Option(help="only shard I of N (I/N)")] = None,
    emit: Annotated[
        tuple[str, int] | None,
        typer.Option(
            metavar="github N",
            help="print a GitHub Actions strategy.matrix of N shards balanced by the last run's wall times",
        ),
    ] = None,
    root: Annotated[Path, typer.Option(help="reports root whose latest run times the shards")] = Path("reports"),
) -> None:
    """Show the cells MATRIX expands to (run / n/a / skip, and why) without running anything."""
    try:
        shard_numbers = parse_shard(shard) if shard else None
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--shard") from None
    loaded = load_matrix(matrix)
    planned = plan_matrix(loaded, detect_host_capabilities(), shard_numbers)
    if emit is not None:
        _emit(planned, emit, root)
        return
    if as_json:
        document = {"schema_version": 1, "matrix": loaded.name, "cells": [entry.to_dict() for entry in planned]}
        typer.echo(json.dumps(document, indent=2))
        return
    table = Table(title=f"{escape(loaded.name)}: {len(planned)} cells", title_justify="left")
    table.add_column("cell")
    table.add_column("id", style="dim")
    table.add_column("planned")
    table.add_column("reason", overflow="fold")
    for entry in planned:
        style = PLANNED_STYLE[entry.planned]
        table.add_row(escape(entry.cell.label), entry.cell.id, f"[{style}]{entry.planned}[/]", escape(entry.reason))
    console.print(table)
    counts = {kind: sum(entry.planned == kind for entry in planned) for kind in PLANNED_STYLE}
    console.print(", ".join(f"{count} {kind.value}" for kind, count in counts.items()))


def _emit(planned: list[PlannedCell], emit: tuple[str, int], root: Path) -> None:
    """One line of JSON, ready for ``echo "matrix=$(...)" >> "$GITHUB_OUTPUT"``."""
    from qlora_check.execution.ordering import previous_durations
    from qlora_check.scaleout.github import github_matrix

    target, count = emit
    if target != "github":
        raise typer.BadParameter(f"the only target is github, not {target!r}", param_hint="--emit")
    typer.echo(json.dumps(github_matrix(planned, count, previous_durations(root)), separators=(",", ":")))
