"""Learning-rate sweep that calibrates `lr: auto`: which peak lr makes a tiny model learn, per optimizer
and train-type family, in both engines, at the default number of steps.

    PYTHONPATH=$PWD python benchmarks/lr_sweep.py                      # torch and mlx, writes the JSON
    PYTHONPATH=$PWD python benchmarks/lr_sweep.py --engines torch --out /tmp/sweep.json
    PYTHONPATH=$PWD python benchmarks/lr_sweep.py --engines torch --families llama_pro \
        --add-to benchmarks/results/lr_sweep.json     # one family swept again (or added), the rest kept

Every point is a real cell run in-process through the worker's entry point (as the integration tests do),
one torch thread, default axes otherwise (40 steps, batch 8, length 32, constant schedule, fp32, seed 0).
The figure recorded is the `learned` check's relative drop (mean loss of the last quarter of steps
against the first quarter's) and the cell's status. Families: `full` (every weight trains), `lora` (peft
LoRA over an fp32 base; MLX: its LoRA layers), `qlora` (LoRA over a 4-bit base: bitsandbytes NF4 on torch,
mlx 4-bit on MLX), `llama_pro` (torch only: new identity-initialised blocks train, the original ones stay
frozen; MLX has no LLaMA-Pro). Each optimizer is swept over its own window of a half-decade grid, wide enough to see
where it stops learning on both sides (found by a first, wider run).

The chosen defaults live in `qlora_check/engines/lr_defaults.py`; `docs/lr-auto.md` explains the rule.
The machine is shared and noisy: the drops are deterministic (fixed seed), the wall times are not.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

GRID = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
WINDOWS = {  # the slice of GRID each optimizer is swept over
    "adamw": (1e-4, 0.1),
    "adam": (1e-4, 0.1),
    "sgd": (1e-2, 30.0),
    "adadelta": (0.1, 100.0),
}
FAMILIES = {
    "torch": {
        "full": {"backend": "cpu", "train_type": "full"},
        "lora": {"backend": "cpu", "train_type": "lora"},
        "qlora": {"backend": "cpu", "train_type": "qlora", "quantizer": "bnb-nf4"},
        "llama_pro": {"backend": "cpu", "train_type": "llama_pro"},
    },
    "mlx": {
        "full": {"backend": "mlx", "train_type": "full"},
        "lora": {"backend": "mlx", "train_type": "lora"},
        "qlora": {"backend": "mlx", "train_type": "qlora", "quantizer": "mlx-4bit"},
    },
}
SCHEMA_VERSION = 1


def sweep_point(values: dict[str, Any]) -> dict[str, Any]:
    """One real cell; its status, relative drop and wall time."""
    from qlora_check.execution.job import JobSpec
    from qlora_check.execution.worker import run_spec
    from qlora_check.matrix.axes import normalise_values

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as work_dir:
        spec = JobSpec(normalise_values(values), work_dir, str(Path(work_dir) / "result.json"), learned_margin=0.2)
        result = run_spec(spec)
    learned = next((check for check in result.get("checks", []) if check["name"] == "learned"), None)
    figures = learned["figures"] if learned else {}
    return {
        "status": result["status"],
        "relative_drop": figures.get("relative_drop"),
        "first_loss": result["losses"][0] if result.get("losses") else None,
        "last_loss": result["losses"][-1] if result.get("losses") else None,
        "failed_checks": [check["name"] for check in result.get("checks", []) if not check["passed"]],
        "error": (result.get("error") or {}).get("message"),
        "wall_s": round(time.perf_counter() - started, 2),
    }


def run_sweep(engines: list[str], optimizers: list[str], steps: int, families: set[str] | None) -> list[dict[str, Any]]:
    points: list[dict[str, Any]] = []
    for engine in engines:
        for family, base in FAMILIES[engine].items():
            if families is not None and family not in families:
                continue
            for optimizer in optimizers:
                low, high = WINDOWS[optimizer]
                for lr in (value for value in GRID if low <= value <= high):
                    values = {**base, "optimizer": optimizer, "lr": lr, "steps": steps}
                    where = {"engine": engine, "family": family, "optimizer": optimizer, "lr": lr}
                    point = {**where, **sweep_point(values)}
                    points.append(point)
                    sys.stderr.write(
                        f"{engine:5} {family:5} {optimizer:8} lr={lr:<7g} {point['status']:5} "
                        f"drop={point['relative_drop']} ({point['wall_s']} s)\n"
                    )
    return points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engines", default="torch,mlx")
    parser.add_argument("--optimizers", default=",".join(WINDOWS))
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--families", default=None, help="comma-separated families to sweep (default: all)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "lr_sweep.json")
    parser.add_argument(
        "--add-to",
        type=Path,
        default=None,
        help="merge into this sweep file: its points of the swept families are replaced",
    )
    arguments = parser.parse_args()
    families = set(arguments.families.split(",")) if arguments.families else None
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    import torch

    torch.set_num_threads(1)
    started = time.perf_counter()
    points = run_sweep(arguments.engines.split(","), arguments.optimizers.split(","), arguments.steps, families)
    swept = {(point["engine"], point["family"]) for point in points}
    commands = ["python benchmarks/lr_sweep.py " + " ".join(sys.argv[1:])]
    if arguments.add_to is not None:
        earlier = json.loads(arguments.add_to.read_text())
        if earlier["steps"] != arguments.steps:
            raise SystemExit(f"{arguments.add_to} was swept at {earlier['steps']} steps, not {arguments.steps}")
        kept = [point for point in earlier["points"] if (point["engine"], point["family"]) not in swept]
        points = kept + points
        commands = [*earlier.get("commands", [earlier["command"]]), *commands]
        arguments.out = arguments.add_to
    from qlora_check.host import library_versions

    document = {
        "schema_version": SCHEMA_VERSION,
        "benchmark": "lr_sweep",
        "command": commands[0],
        "commands": commands,  # the first made the file; later ones swept some families again (--add-to)
        "steps": arguments.steps,
        "margin": 0.2,
        "grid": list(GRID),
        "windows": {name: list(window) for name, window in WINDOWS.items()},
        "families": FAMILIES,
        "host": {"machine": platform.machine(), "cpus": os.cpu_count(), "load_avg": os.getloadavg()},
        "versions": library_versions(),
        "wall_s": round(time.perf_counter() - started, 1),
        "points": points,
    }
    arguments.out.parent.mkdir(parents=True, exist_ok=True)
    arguments.out.write_text(json.dumps(document, indent=1) + "\n")
    sys.stderr.write(f"wrote {arguments.out} ({len(points)} points, {document['wall_s']} s)\n")


if __name__ == "__main__":
    main()
