"""`qlora-check estimate --model NAME`: memory of a real-size fine-tune, measured on real-shaped layers."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from qlora_check.cli.common import console, user_errors
from qlora_check.estimate.request import GIB, EstimateRequest


def _gib(value: int) -> str:
    return f"{value / GIB:.2f}"


@user_errors
def estimate(
    model: Annotated[str, typer.Option(help="built-in config name (llama-3-8b …), a config.json or a model folder")],
    quantizer: Annotated[str, typer.Option(help="quantizer axis value: none, bnb-nf4 …")] = "none",
    train_type: Annotated[str, typer.Option(help="full, lora, dora, qlora, qdora")] = "lora",
    precision: Annotated[str, typer.Option(help="fp32, fp16, bf16")] = "bf16",
    optimizer: Annotated[str, typer.Option(help="adamw, adam, sgd")] = "adamw",
    seq_len: Annotated[int, typer.Option(help="tokens per sequence")] = 2048,
    batch: Annotated[int, typer.Option(help="sequences per step")] = 1,
    lora_r: Annotated[int, typer.Option(help="LoRA rank")] = 16,
    grad_checkpointing: Annotated[bool, typer.Option(help="gradient checkpointing (non-reentrant)")] = False,
    backend: Annotated[str, typer.Option(help="cpu (meta-device step) or cuda (real step on the GPU)")] = "cpu",
    budget: Annotated[float | None, typer.Option(help="GB of memory: find the largest batch × seq_len")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print every figure as JSON")] = False,
    validate: Annotated[
        bool, typer.Option(help="check the method on a full reduced model (hidden 1024, 8 layers)")
    ] = False,
) -> None:
    """Estimate the memory of fine-tuning MODEL at real size from measured 1- and 2-layer models."""
    from qlora_check.estimate.configs import load_config

    request = EstimateRequest(model, quantizer, train_type, precision, optimizer, seq_len, batch, lora_r,
                              grad_checkpointing, backend)
    request.check()
    config = load_config(model)
    if validate:
        from qlora_check.estimate.validate import validate as run_validation

        report = run_validation(request, config)
        if as_json:
            typer.echo(json.dumps(report, indent=2))
        else:
            _print_validation(report)
        return
    from qlora_check.estimate.extrapolate import estimate as run_estimate

    result = run_estimate(request, config, budget)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
        return
    _print_result(result.to_dict())


def _print_result(data: dict[str, Any]) -> None:
    request = data["request"]
    title = (f"{escape(data['model'])} ({data['layers']} layers): {request['train_type']}, quantizer "
             f"{request['quantizer']}, {request['precision']}, {request['optimizer']}, batch {request['batch']} × "
             f"seq {request['seq_len']}, grad checkpointing {'on' if request['grad_checkpointing'] else 'off'}")
    table = Table(title=title, title_justify="left")
    table.add_column("part")
    table.add_column("GiB", justify="right")
    table.add_column("per layer MiB", justify="right")
    table.add_column("what", overflow="fold")
    for name, part in data["parts"].items():
        table.add_row(name, _gib(part["bytes"]), f"{part['per_layer'] / 2**20:.1f}", escape(part["note"]))
    for phase, value in data["phase_peaks"].items():
        table.add_row(f"peak in {phase}", _gib(value), "", "live tensors at that phase's highest point")
    table.add_row("[bold]peak[/]", f"[bold]{_gib(data['peak_bytes'])}[/]", "", f"in {data['peak_phase']}")
    console.print(table)
    fits = ", ".join(f"{size}: {'[green]yes[/]' if ok else '[red]no[/]'}" for size, ok in data["fits"].items())
    console.print(f"fits in {fits}")
    if data["budget"]:
        _print_budget(data["budget"])
    console.print(f"[dim]method: {escape(data['measured']['method'])}[/]")
    if data["quantization"]:
        console.print(f"[dim]quantized by: {escape(str(data['quantization'].get('path')))}[/]")
    for line in data["assumptions"]:
        console.print(f"[dim]- {escape(line)}[/]")
    console.print(f"[dim]measured in {data['seconds']:.1f} s[/]")


def _print_budget(budget: dict[str, Any]) -> None:
    largest = budget["largest"]
    if largest is None:
        console.print(f"budget {budget['budget_gb']} GB: not even batch 1 × seq 256 fits")
        return
    console.print(f"budget {budget['budget_gb']} GB: largest batch × seq_len = {largest['max_batch']} × "
                  f"{largest['seq_len']}; per seq_len: "
                  + ", ".join(f"{row['seq_len']}→{row['max_batch']}" for row in budget["rows"]))
    console.print(f"[dim]{escape(budget['method'])}[/]")


def _print_validation(report: dict[str, Any]) -> None:
    table = Table(title=f"validation: {escape(report['model'])}", title_justify="left")
    table.add_column("figure")
    table.add_column("estimated MiB", justify="right")
    table.add_column("measured MiB", justify="right")
    for name, value in report["estimated_parts"].items():
        table.add_row(name, f"{value / 2**20:.1f}", f"{report['measured_parts'][name] / 2**20:.1f}")
    table.add_row("[bold]peak[/]", f"{report['estimated_peak_bytes'] / 2**20:.1f}",
                  f"{report['measured_peak_bytes'] / 2**20:.1f}")
    console.print(table)
    console.print(f"relative error of the peak: {report['relative_error'] * 100:+.2f} %")
    console.print(f"[dim]estimate: {escape(report['estimate_method'])}[/]")
    console.print(f"[dim]measured: {escape(report['measured_method'])}[/]")


__all__ = ["estimate"]
