"""Compute the docs/estimate.md table: every built-in config on the three common setups.

Usage: PYTHONPATH=. python benchmarks/estimate_table.py OUT.jsonl [setup ...]
Each finished estimate is appended to OUT.jsonl as it ends (a slow QLoRA build never loses the rest);
then the markdown table is printed from everything in OUT.jsonl.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from qlora_check.estimate.configs import builtin_names, load_config
from qlora_check.estimate.extrapolate import estimate
from qlora_check.estimate.request import GIB, EstimateRequest

SETUPS = {
    "lora-bf16": {"quantizer": "none", "train_type": "lora"},
    "full-bf16": {"quantizer": "none", "train_type": "full"},
    "qlora-nf4": {"quantizer": "bnb-nf4", "train_type": "qlora"},
}


def main() -> None:
    out = Path(sys.argv[1])
    setups = sys.argv[2:] or list(SETUPS)
    done = {(row["model"], row["setup"]) for row in _rows(out)}
    for setup in setups:
        for name in sorted(builtin_names(), key=lambda name: "70b" in name):  # the slowest build last
            if (name, setup) in done:
                continue
            request = EstimateRequest(name, precision="bf16", optimizer="adamw", seq_len=2048, batch=1, lora_r=16,
                                      grad_checkpointing=True, **SETUPS[setup])
            result = estimate(request, load_config(name)).to_dict()
            row = {"model": name, "setup": setup, "peak_bytes": result["peak_bytes"],
                   "parts": {key: part["bytes"] for key, part in result["parts"].items()}, "seconds": result["seconds"]}
            with out.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(row) + "\n")
            print(f"{name} {setup}: {result['peak_bytes'] / GIB:.2f} GiB in {result['seconds']:.0f} s", flush=True)
    print(table(_rows(out)))


def _rows(path: Path) -> list[dict[str, object]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def table(rows: list[dict[str, object]]) -> str:
    peaks = {(str(row["model"]), str(row["setup"])): int(row["peak_bytes"]) for row in rows}  # type: ignore[call-overload]
    lines = ["| model | " + " | ".join(f"{setup} peak GiB" for setup in SETUPS) + " |",
             "| --- | " + " | ".join("---:" for _ in SETUPS) + " |"]
    for name in builtin_names():
        cells = [f"{peaks[(name, setup)] / GIB:.2f}" if (name, setup) in peaks else "not run" for setup in SETUPS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
