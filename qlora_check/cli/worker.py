"""`qlora-check worker`: a Ray node that offers what this host's doctor found (backends, quantizer families)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from qlora_check.cli.common import console, user_errors
from qlora_check.doctor.document import doctor_document
from qlora_check.scaleout.node_resources import node_offer
from qlora_check.scaleout.worker_node import DEFAULT_PORT, ray_executable, ray_start_argv


@user_errors
def worker(
    ray: Annotated[
        str | None, typer.Option("--ray", metavar="ADDRESS", help="join the pool whose head is at ADDRESS")
    ] = None,
    head: Annotated[bool, typer.Option("--head", help="start the pool's head node on this host")] = False,
    port: Annotated[int, typer.Option(help="the head's port (with --head)")] = DEFAULT_PORT,
    num_cpus: Annotated[int | None, typer.Option(min=1, help="CPUs this node offers (default: Ray's count)")] = None,
    doctor_json: Annotated[
        Path | None, typer.Option(help="use this `doctor --json` document instead of running the doctor now")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="print the offer and the ray command; start nothing")
    ] = False,
) -> None:
    """Start a Ray node advertising this host's doctor verdicts as resources; blocks until stopped (Ctrl-C).

    One host runs `qlora-check worker --head`, the others `qlora-check worker --ray HEAD:6379`; then
    `qlora-check run MATRIX --ray HEAD:6379` places each cell on a node that can run it.
    """
    if head == (ray is not None):
        raise typer.BadParameter("give either --head or --ray ADDRESS")
    if doctor_json is None:
        with console.status("doctor: detecting and probing (cached verdicts are reused)…"):
            document = doctor_document()
    else:
        document = doctor_document(doctor_json)
    offer = node_offer(document)
    executable = ray_executable(required=not dry_run)
    argv = ray_start_argv(offer, head=head, address=ray, port=port, num_cpus=num_cpus, executable=executable)
    console.print(f"[bold]{escape(offer.host)}[/] offers {escape(offer.describe())}")
    for name, amount in sorted(offer.resources.items()):
        console.print(f"  {name} = {amount:g}")
    if dry_run:
        console.print(" ".join(escape(part) for part in argv))
        raise typer.Exit(0)
    try:
        code = subprocess.call(argv)
    except KeyboardInterrupt:
        code = 130
    raise typer.Exit(code)
