"""`qlora-check doctor`: what this host can run (backends, libraries) and probes that prove it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from qlora_check.cli.common import console, error_console, user_errors
from qlora_check.doctor.models import ProbeResult, all_families, families_for, family_library, family_title
from qlora_check.doctor.probes import DEFAULT_TIMEOUT_S
from qlora_check.doctor.service import DoctorOptions, DoctorReport, run_doctor
from qlora_check.engines import engine_for_backend

CACHE_HELP = "probe cache directory (default: $QLORA_CHECK_CACHE_DIR, else ~/.cache/qlora-check)"


@user_errors
def doctor(
    as_json: Annotated[bool, typer.Option("--json", help="print the findings as JSON for machines")] = False,
    no_probe: Annotated[bool, typer.Option("--no-probe", help="detect only; show cached probe verdicts")] = False,
    refresh: Annotated[bool, typer.Option("--refresh", help="re-run every probe, ignoring the cache")] = False,
    timeout: Annotated[float, typer.Option(help="seconds each probe may take")] = DEFAULT_TIMEOUT_S,
    jobs: Annotated[int, typer.Option(min=1, help="probes run at once (each uses one thread)")] = 1,
    cache_dir: Annotated[Path | None, typer.Option(help=CACHE_HELP)] = None,
) -> None:
    """Show which backends and quantizers work on this host; exit 1 when no backend works."""
    options = DoctorOptions(probe=not no_probe, refresh=refresh, timeout_s=timeout, jobs=jobs, cache_dir=cache_dir)
    if as_json:
        report = run_doctor(options)
        typer.echo(json.dumps(report.to_dict(), indent=2))
        raise typer.Exit(report.exit_code)
    with console.status("detecting devices and probing (each probe is a fresh interpreter)…") as status:

        def progress(result: ProbeResult) -> None:
            status.update(f"probed {result.backend} × {family_title(result.family)}: {result.status}")

        report = run_doctor(options, progress)
    render(report)
    raise typer.Exit(report.exit_code)


def render(report: DoctorReport) -> None:
    host = report.host
    cpu, os_info, python = host["cpu"], host["os"], host["python"]
    flags = " ".join(flag for flag, present in cpu["flags"].items() if present) or "none of the tracked ones"
    console.print(
        f"[bold]Host[/]  {escape(os_info['system'])} {escape(os_info['release'])} {os_info['machine']}"
        f" · Python {python['version']} ({escape(python['executable'])})"
    )
    console.print(
        f"[bold]CPU[/]   {escape(cpu['model'])} · {cpu['physical_cores']} cores / {cpu['logical_cores']}"
        f" threads ({cpu['usable_cores']} usable) · {cpu['ram_gb']} GiB RAM · flags: {flags}"
    )
    console.print(_backends_table(report))
    if report.devices_error:
        error_console.print(f"[yellow]warning:[/] {escape(report.devices_error)}")
    console.print(_libraries_table(report))
    console.print(_probe_table(report))
    failures = [result for result in report.probes if not result.ok]
    for result in failures:
        console.print(
            f"  [red]✗ {result.backend} × {family_title(result.family)}[/] ({result.status}): {escape(result.reason)}"
        )
    working = report.working_backends()
    verdict = f"[green]working backends: {', '.join(working)}[/]" if working else "[red]no working backend[/]"
    console.print(f"{verdict} · probes: {report.probe_source} · cache: [dim]{escape(report.cache_path)}[/]")


def _backends_table(report: DoctorReport) -> Table:
    table = Table(title="Backends", title_justify="left")
    for column in ("backend", "present", "details / reason"):
        table.add_column(column, overflow="fold")
    for name, backend in report.backends.items():
        mark = "[green]✓[/]" if backend.available else "[red]✗[/]"
        text = _summary(backend.details) if backend.available else backend.reason
        table.add_row(name, mark, escape(text))
    return table


def _summary(details: dict[str, Any]) -> str:
    parts = []
    for key, value in details.items():
        if key == "devices":
            value = "; ".join(
                f"{d['name']} (sm {d['capability']}, {d['memory_gb']} GiB)" for d in value if isinstance(d, dict)
            )
        if value not in (None, "", [], {}):
            parts.append(f"{key}={value}")
    return ", ".join(parts)


def _libraries_table(report: DoctorReport) -> Table:
    table = Table(title="Libraries", title_justify="left")
    for column in ("library", "version", "install"):
        table.add_column(column, overflow="fold")
    for library in report.libraries:
        version = library.version or "[red]missing[/]"
        table.add_row(library.distribution, version, "" if library.installed else escape(library.hint))
    return table


def _probe_table(report: DoctorReport) -> Table:
    table = Table(title="Probes: quantize a linear layer, forward + backward through LoRA", title_justify="left")
    table.add_column("backend")
    columns = all_families()
    for family in columns:
        table.add_column(family_title(family))
    results = {(result.backend, result.family): result for result in report.probes}
    installed = {library.module: library.installed for library in report.libraries}
    for name, backend in report.backends.items():
        if not backend.available:
            continue
        row = [name]
        for family in columns:
            row.append(_probe_cell(results.get((name, family)), name, family, installed))
        table.add_row(*row)
    return table


def _probe_cell(result: ProbeResult | None, backend: str, family: str, installed: dict[str, bool]) -> str:
    if family not in families_for(engine_for_backend(backend).name):
        return "[dim]n/a[/]"
    if result is None:
        library = family_library(family)
        if library and not installed.get(library[0], False):
            return "[dim]– not installed[/]"
        return "[dim]not probed[/]"
    cached = " [dim](cached)[/]" if result.cached else ""
    if result.ok:
        return f"[green]✓[/] {result.duration_s:.1f} s{cached}"
    return f"[red]✗ {result.status}[/]{cached}"
