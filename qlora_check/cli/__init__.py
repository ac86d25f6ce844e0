"""The Typer app. The only place that prints or exits; every command wires one core function."""

from __future__ import annotations

import typer

from qlora_check.cli import compare as compare_command
from qlora_check.cli import doctor as doctor_command
from qlora_check.cli import estimate as estimate_command
from qlora_check.cli import history as history_command
from qlora_check.cli import matrices as matrices_command
from qlora_check.cli import merge as merge_command
from qlora_check.cli import plan as plan_command
from qlora_check.cli import report as report_command
from qlora_check.cli import run as run_command
from qlora_check.cli import schema as schema_command
from qlora_check.cli import worker as worker_command

app = typer.Typer(
    name="qlora-check",
    help="Real, tiny fine-tuning runs that tell which LoRA/QLoRA setups work on this machine.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("run")(run_command.run)
app.command("plan")(plan_command.plan)
app.command("matrices")(matrices_command.matrices)
app.command("schema")(schema_command.schema)
app.command("report")(report_command.report)
app.command("doctor")(doctor_command.doctor)
app.command("compare")(compare_command.compare)
app.command("merge")(merge_command.merge)
app.command("history")(history_command.history)
app.command("worker")(worker_command.worker)
app.command("estimate")(estimate_command.estimate)


def main() -> None:
    app()
