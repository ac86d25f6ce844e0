"""`qlora-check run MATRIX`: every cell as a real tiny fine-tuning job in its own process."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
from rich.markup import escape

from qlora_check.cli.common import console, status_text, user_errors
from qlora_check.cli.progress import RunProgress, summary_table
from qlora_check.doctor.host_view import detect_host_capabilities
from qlora_check.execution.plan import parse_shard
from qlora_check.execution.run import RunOptions, RunOutcome, run_matrix
from qlora_check.matrix.bundled import resolve_matrix
from qlora_check.reports.finish import finish_run
from qlora_check.results.models import Status


def _sigterm_as_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@user_errors
def run(
    matrix: Annotated[
        str | None,
        typer.Argument(help="matrix YAML file or bundled matrix name (default: the bundled smoke matrix)"),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="run directory (default: ROOT/runs/<UTC time>-<host>)")] = None,
    root: Annotated[Path, typer.Option(help="reports root; ROOT/latest points at the newest run")] = Path("reports"),
    timeout: Annotated[float | None, typer.Option(help="seconds per cell (default: the matrix's setting)")] = None,
    jobs: Annotated[int | None, typer.Option(min=1, help="cells in parallel (default: one per core)")] = None,
    retries: Annotated[
        int | None, typer.Option(min=0, max=10, help="re-run cells that crashed, timed out or ran out of memory")
    ] = None,
    max_memory: Annotated[
        int | None, typer.Option("--max-memory", min=1, help="memory cap per cell in MiB; exceeding it is oom")
    ] = None,
    shard: Annotated[
        str | None, typer.Option(help="run only shard I of N (I/N): a stable partition of the cells by id")
    ] = None,
    compare_to: Annotated[
        str | None, typer.Option(help="compare with `latest` or a run directory when the run ends")
    ] = None,
    resume: Annotated[
        Path | None, typer.Option(help="run directory to resume: runs only the cells without a final result")
    ] = None,
    cells: Annotated[
        str | None, typer.Option(help="run only these cell ids (comma or space separated; see plan --emit github)")
    ] = None,
    ray: Annotated[
        str | None,
        typer.Option(
            "--ray",
            metavar="ADDRESS|auto",
            help="run the cells on a Ray pool (HEAD:6379); auto: $RAY_ADDRESS, a local head, or one started here",
        ),
    ] = None,
    doctor_json: Annotated[
        Path | None, typer.Option(help="with --ray auto: this doctor --json document for a head started here")
    ] = None,
) -> None:
    """Run every cell of MATRIX, isolated, and write a run directory.

    MATRIX is a file or the name of a bundled matrix (`qlora-check matrices` lists them); without it, the
    bundled smoke matrix runs.

    Exit code: 0 when nothing failed (pass, skip, n/a), 1 when any cell failed, 2 for bad input,
    130 when interrupted.
    """
    if timeout is not None and timeout <= 0:
        raise typer.BadParameter("must be above 0", param_hint="--timeout")
    previous = signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    if matrix is not None and resume is not None:
        raise typer.BadParameter("give either a MATRIX or --resume RUN_DIR (not both)")
    try:
        shard_numbers = parse_shard(shard) if shard else None
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--shard") from None
    options = RunOptions(
        shard=shard_numbers,
        compare_to=compare_to,
        matrix_path=None if resume is not None else resolve_matrix(matrix),
        retries=retries,
        max_memory_mb=max_memory,
        resume=resume,
        out=out,
        root=root,
        timeout=timeout,
        jobs=jobs,
        cells=tuple(cells.replace(",", " ").split()) if cells else None,
        command=("qlora-check", *sys.argv[1:]),
    )
    try:
        with RunProgress(console) as progress:
            if ray is None:
                outcome = run_matrix(options, progress, host=detect_host_capabilities())
            else:
                outcome = _run_on_ray(options, progress, ray, doctor_json)
            comparison = finish_run(outcome.run_dir, outcome.baseline, outcome.interrupted, progress)
    finally:
        signal.signal(signal.SIGTERM, previous)
    results = list(outcome.results.values())
    console.print(summary_table(results))
    counts = ", ".join(f"{status_text(s)} {n}" for s, n in outcome.counts.items() if n)
    console.print(f"{counts}\nrun directory: {escape(str(outcome.run_dir))}")
    report = outcome.run_dir / "report.html"
    if report.exists():
        console.print(f"report: {escape(str(report))}")
    if comparison is not None:
        changes = comparison.to_dict()["counts"]
        summary = ", ".join(f"{n} {kind}" for kind, n in changes.items() if n) or "no changes"
        console.print(f"compared with {escape(comparison.run_a)}: {summary} (comparison.md in the run)")
        for change in comparison.regressions:
            console.print(f"[bold red]regression:[/] {escape(change.label)}: {escape(change.detail)}")
    if outcome.interrupted:
        console.print(f"{status_text(Status.INTERRUPTED)}: the run was interrupted; cells left are not recorded")
    raise typer.Exit(outcome.exit_code)


def _run_on_ray(options: RunOptions, progress: RunProgress, address: str, doctor_json: Path | None) -> RunOutcome:
    """The same run, its cells placed on a Ray pool's nodes (a local head when none runs: this host's doctor)."""
    from qlora_check.doctor.document import doctor_document
    from qlora_check.scaleout.node_resources import node_offer
    from qlora_check.scaleout.session import ray_session

    with ray_session(address, lambda: node_offer(doctor_document(doctor_json)), cpus=options.jobs) as executor:
        return run_matrix(options, progress, host=detect_host_capabilities(), executor=executor)
