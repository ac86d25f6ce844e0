"""Device check: the CPU (meta-device) estimate against real CUDA memory at full size.

Usage: PYTHONPATH=. python benchmarks/estimate_cuda_check.py OUT_DIR
1. llama-3-8b LoRA bf16, gradient checkpointing, batch 1 × 2048: meta estimate vs the real 32-layer model
   trained two steps on the GPU (torch.cuda.max_memory_allocated, second step).
2. llama-3-8b QLoRA NF4, same setup: meta estimate vs the --backend cuda estimate (1 and 2 real layers on the GPU).
Writes OUT_DIR/cuda_check.json as each figure is known.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

from qlora_check.estimate.build import build
from qlora_check.estimate.configs import load_config
from qlora_check.estimate.extrapolate import estimate, quiet_libraries
from qlora_check.estimate.measure import measure
from qlora_check.estimate.request import EstimateRequest


def main() -> None:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"torch": torch.__version__, "cuda": torch.cuda.is_available(),
                              "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}

    def save() -> None:
        (out / "cuda_check.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
        print(json.dumps(report), flush=True)

    save()
    config = load_config("llama-3-8b")
    lora = EstimateRequest("llama-3-8b", train_type="lora", precision="bf16", grad_checkpointing=True, seq_len=2048)
    started = time.perf_counter()
    report["lora_meta_estimate"] = estimate(lora, config).peak_bytes
    report["lora_meta_seconds"] = round(time.perf_counter() - started, 1)
    save()
    started = time.perf_counter()
    with quiet_libraries():
        built = build(config, config.layers, lora, torch.device("cuda"), {})
        real = measure(built, lora)
    report["lora_real_cuda_peak"] = real.peak
    report["lora_real_cuda_parts"] = real.to_dict()
    report["lora_real_seconds"] = round(time.perf_counter() - started, 1)
    report["lora_relative_error"] = round((report["lora_meta_estimate"] - real.peak) / real.peak, 4)
    del built
    torch.cuda.empty_cache()
    save()
    qlora = EstimateRequest("llama-3-8b", quantizer="bnb-nf4", train_type="qlora", precision="bf16",
                            grad_checkpointing=True, seq_len=2048)
    on_cuda = EstimateRequest(**{**qlora.to_dict(), "backend": "cuda"})
    report["qlora_cuda_estimate"] = estimate(on_cuda, config).to_dict()
    save()
    report["qlora_meta_estimate"] = estimate(qlora, config).peak_bytes
    save()


if __name__ == "__main__":
    main()
