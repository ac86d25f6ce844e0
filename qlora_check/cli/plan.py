"""`qlora-check plan MATRIX`: which cells a matrix expands to, and what would happen to each."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from qlora_check.cli.common import console, user_errors
from qlora_check.doctor.host_view import detect_host_capabilities
from qlora_check.execution.coverage import plan_coverage
from qlora_check.execution.plan import Plan, PlanKind, PlannedCell, build_plan, parse_shard
from qlora_check.matrix.bundled import resolve_matrix
from qlora_check.matrix.coverage import AxisPairCoverage
from qlora_check.matrix.loader import load_matrix

PLANNED_STYLE = {PlanKind.RUN: "green", PlanKind.NOT_APPLICABLE: "dim", PlanKind.SKIP: "yellow"}
SHOWN_REASONS = 2


@user_errors
def plan(
    matrix: Annotated[str, typer.Argument(help="matrix YAML file, or the name of a bundled matrix")],
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
    show_na: Annotated[
        bool, typer.Option("--show-na", help="also list the n/a combinations left out of the plan, with reasons")
    ] = False,
    coverage: Annotated[
        bool, typer.Option("--coverage", help="for each two axes: value pairs covered here, n/a, skipped (why)")
    ] = False,
) -> None:
    """Show the cells MATRIX expands to (run / n/a / skip, and why) without running anything."""
    try:
        shard_numbers = parse_shard(shard) if shard else None
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--shard") from None
    loaded = load_matrix(resolve_matrix(matrix))
    host = detect_host_capabilities()
    planned = build_plan(loaded, host, shard_numbers)
    if emit is not None:
        _emit(planned.cells, emit, root)
        return
    pairs = plan_coverage(loaded, planned, host) if coverage else None
    if as_json:
        document: dict[str, Any] = {
            "schema_version": 1,
            "matrix": loaded.name,
            "strategy": planned.strategy,
            "cells": [entry.to_dict() for entry in planned.cells],
            "not_applicable": planned.not_applicable_summary(),
        }
        if show_na:
            document["not_applicable"]["cells"] = [entry.to_dict() for entry in planned.pruned]
        if pairs is not None:
            document["coverage"] = [entry.to_dict() for entry in pairs]
        typer.echo(json.dumps(document, indent=2))
        return
    _print_cells(f"{loaded.name}: {len(planned.cells)} cells ({planned.strategy})", planned.cells)
    if show_na and planned.pruned:
        _print_cells(f"left out, n/a by definition: {len(planned.pruned)}", planned.pruned)
    counts = {kind: sum(entry.planned == kind for entry in planned.cells) for kind in PLANNED_STYLE}
    console.print(", ".join(f"{count} {kind.value}" for kind, count in counts.items()) + _pruned_line(planned))
    if pairs is not None:
        _print_coverage(pairs)


def _print_cells(title: str, cells: list[PlannedCell]) -> None:
    table = Table(title=escape(title), title_justify="left")
    table.add_column("cell")
    table.add_column("id", style="dim")
    table.add_column("planned")
    table.add_column("reason", overflow="fold")
    for entry in cells:
        style = PLANNED_STYLE[entry.planned]
        table.add_row(escape(entry.cell.label), entry.cell.id, f"[{style}]{entry.planned}[/]", escape(entry.reason))
    console.print(table)


def _emit(planned: list[PlannedCell], emit: tuple[str, int], root: Path) -> None:
    """One line of JSON, ready for ``echo "matrix=$(...)" >> "$GITHUB_OUTPUT"``."""
    from qlora_check.execution.ordering import previous_durations
    from qlora_check.scaleout.github import github_matrix

    target, count = emit
    if target != "github":
        raise typer.BadParameter(f"the only target is github, not {target!r}", param_hint="--emit")
    typer.echo(json.dumps(github_matrix(planned, count, previous_durations(root)), separators=(",", ":")))


def _pruned_line(planned: Plan) -> str:
    if not planned.pruned:
        return ""
    reasons = "; ".join(f"{count}: {reason}" for reason, count in planned.pruned_reasons().items())
    return f"; {len(planned.pruned)} n/a combinations left out ({escape(reasons)}) - see --show-na"


def _top(kind: str, reasons: dict[str, int]) -> list[str]:
    lines = [f"{kind}: {reason} ({count})" for reason, count in list(reasons.items())[:SHOWN_REASONS]]
    more = len(reasons) - SHOWN_REASONS
    return [*lines, f"{kind}: {more} more reasons (--json lists them)"] if more > 0 else lines


def _print_coverage(pairs: list[AxisPairCoverage]) -> None:
    table = Table(title="value pairs of each two axes", title_justify="left")
    for column in ("axes", "pairs", "covered", "n/a", "skipped here", "missing"):
        table.add_column(column, justify="left" if column == "axes" else "right")
    table.add_column("why", overflow="fold")
    for entry in pairs:
        why = _top("skip", entry.skip_reasons) + _top("n/a", entry.na_reasons)
        if entry.missing_pairs:
            shown = ", ".join(f"{a}+{b}" for a, b in entry.missing_pairs[:SHOWN_REASONS])
            more = len(entry.missing_pairs) - SHOWN_REASONS
            why.append(f"missing: {shown}" + (f" and {more} more" if more > 0 else ""))
        missing = f"[red]{entry.missing}[/]" if entry.missing else "0"
        table.add_row(
            " x ".join(entry.axes),
            str(entry.total),
            f"[green]{entry.covered}[/]",
            str(entry.not_applicable),
            str(entry.skipped),
            missing,
            escape("\n".join(why)),
        )
    console.print(table)
    total = sum(entry.total for entry in pairs)
    covered = sum(entry.covered for entry in pairs)
    console.print(f"{covered} of {total} value pairs covered by cells that run here")
