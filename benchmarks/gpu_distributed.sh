#!/usr/bin/env bash
# The CUDA / NCCL path of multi-process cells, in one short prepared run on a GPU box (no network needed).
#
#   bash benchmarks/gpu_distributed.sh            # from the repository root; figures go to $OUT (default below)
#
# 1. prints what the host has (GPUs, python, torch + CUDA + NCCL, transformers, peft, bitsandbytes, the CLI's
#    own dependencies): nothing is installed, a missing library is reported and the steps that need it skipped;
# 2. an NCCL rendezvous through a file with world_size 1 (init, all_reduce, barrier, teardown), timed;
# 3. `python -m qlora_check run matrices/distributed-cuda.yaml`: DDP / FSDP / FSDP2 x full / LoRA / QLoRA on
#    cuda, one rank each (a world_size 2 cell is `skip` with one GPU), then a summary of every cell.
# Everything it prints is also written under $OUT (summary.txt, results.jsonl, the cell and rank logs).
#
# The CLI needs pydantic. A box without it (the H200 lent here had torch 2.11+cu130, transformers, peft,
# typer, yaml, jinja2, psutil, but no pydantic and no bitsandbytes) can use wheels brought along: on a
# machine with network, from the repository root,
#   pip download --only-binary=:all: --python-version 3.12 --platform manylinux2014_x86_64 \
#       --implementation cp -d .gpu-wheels pydantic bitsandbytes
# (.gpu-wheels/ is git-ignored: carry it to the box); this script unpacks them onto PYTHONPATH when an
# import fails (USE_WHEELS=1 forces it). Without bitsandbytes the QLoRA cells are `skip`.
set -u
cd "$(dirname "$0")/.."
OUT="${OUT:-/tmp/qlora-check-gpu-distributed}"
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec > >(tee -a "$OUT/summary.txt") 2>&1
PY="${PYTHON:-python}"

echo "== host ($(date -u +%FT%TZ))"
nvidia-smi -L 2>/dev/null || echo "nvidia-smi: not found"
"$PY" - <<'PYEOF'
import importlib, sys
print("python", sys.version.split()[0], sys.executable)
for name in ("torch", "transformers", "peft", "accelerate", "safetensors", "bitsandbytes",
             "typer", "rich", "yaml", "jinja2", "psutil", "pydantic"):
    try:
        module = importlib.import_module(name)
        print(f"  {name:13s} {getattr(module, '__version__', '?')}")
    except Exception as exc:  # report, never install
        print(f"  {name:13s} MISSING ({type(exc).__name__}: {exc})")
try:
    import torch, torch.distributed as dist
    print("torch.cuda.is_available", torch.cuda.is_available(), "devices", torch.cuda.device_count(),
          "torch.version.cuda", torch.version.cuda, "nccl", dist.is_nccl_available())
    if torch.cuda.is_available():
        print("device 0:", torch.cuda.get_device_name(0), "nccl version", torch.cuda.nccl.version())
except Exception as exc:
    print("torch CUDA check failed:", type(exc).__name__, exc)
PYEOF

WHEELS="${WHEELS:-.gpu-wheels}"
if [ -n "${USE_WHEELS:-}" ] || ! "$PY" -c "import pydantic" 2>/dev/null; then
  if ls "$WHEELS"/*.whl >/dev/null 2>&1; then
    SITE="${TMPDIR:-/tmp}/qlora-check-gpu-site"
    rm -rf "$SITE" && mkdir -p "$SITE"
    "$PY" -c "import glob, sys, zipfile; [zipfile.ZipFile(w).extractall(sys.argv[1]) for w in sorted(glob.glob(sys.argv[2] + '/*.whl'))]" "$SITE" "$WHEELS"
    export PYTHONPATH="$SITE:$PYTHONPATH"
    echo "using the wheels in $WHEELS (unpacked to $SITE): $(ls "$WHEELS" | tr '\n' ' ')"
    "$PY" -c "import pydantic; print('pydantic', pydantic.VERSION, 'from', pydantic.__file__)"
  else
    echo "pydantic is missing and there is no $WHEELS/*.whl: the qlora-check run below will be skipped"
  fi
fi

echo "== NCCL rendezvous (file://, world_size 1)"
timeout 90 "$PY" - "$OUT" <<'PYEOF'
import sys, tempfile, time
from pathlib import Path
try:
    import torch
    import torch.distributed as dist
    from qlora_check.distributed import rendezvous
except Exception as exc:
    print("skipped: cannot import torch / qlora_check:", exc); sys.exit(0)
if not torch.cuda.is_available():
    print("skipped: no CUDA device"); sys.exit(0)
with tempfile.TemporaryDirectory() as scratch:
    started = time.perf_counter()
    torch.cuda.set_device(0)
    backend = rendezvous.init_group(0, 1, Path(scratch), "cuda", 60)
    joined = time.perf_counter() - started
    value = torch.ones(4, device="cuda")
    dist.all_reduce(value)
    dist.barrier()
    torch.cuda.synchronize()
    rendezvous.teardown()
    print(f"backend {backend}: joined in {joined:.2f} s, all_reduce {value.tolist()}, "
          f"total {time.perf_counter() - started:.2f} s, group destroyed: {not dist.is_initialized()}")
PYEOF
echo "rendezvous exit code: $?"

echo "== qlora-check run matrices/distributed-cuda.yaml"
"$PY" -c "import qlora_check.cli" 2>/dev/null || { echo "skipped: qlora_check's CLI cannot be imported here"; exit 0; }
RUN="${TMPDIR:-/tmp}/qlora-check-gpu-run"  # checkpoints stay here; results and logs are copied to $OUT
rm -rf "$RUN"
started=$(date +%s)
timeout 400 "$PY" -m qlora_check run matrices/distributed-cuda.yaml --out "$RUN" --root "$OUT/reports" --timeout 150 \
  > "$OUT/run.log" 2>&1
echo "run exit code: $? (1 = some cell failed), wall $(( $(date +%s) - started )) s; log: $OUT/run.log"
tail -n 5 "$OUT/run.log"

echo "== cells"
"$PY" - "$RUN" <<'PYEOF'
import json, sys
from pathlib import Path
path = Path(sys.argv[1]) / "results.jsonl"
if not path.exists():
    print("no results.jsonl"); sys.exit(0)
for line in path.read_text().splitlines():
    r = json.loads(line)
    v = r["values"]
    checks = {c["name"]: c for c in r.get("checks", [])}
    single = checks.get("matches_single", {}).get("figures", {})
    memory = r.get("memory", {})
    print(f"{r['status']:6s} {v.get('distributed')}/{v.get('train_type')}/{v.get('precision')} ws={v.get('world_size')} "
          f"wall={r.get('timings', {}).get('wall_s', 0):.1f}s")
    if r.get("reason"):
        print("       reason:", r["reason"][:300])
    if checks:
        print("       checks:", " ".join(f"{n}={'ok' if c['passed'] else 'FAIL'}" for n, c in checks.items()))
    if single:
        print(f"       matches_single: loss diff {single.get('max_abs_diff')} params diff "
              f"{single.get('parameters_max_abs_diff')} limit {single.get('limit')} ({single.get('tolerance')})")
    if memory:
        print(f"       memory: host peak {memory.get('peak_rss_mb')} MiB, device peak "
              f"{memory.get('device_peak_allocated_mb')} MiB, launch {r.get('engine', {}).get('distributed', {}).get('launch')}")
PYEOF
cp "$RUN"/results.jsonl "$RUN"/run.json "$OUT"/ 2>/dev/null || true
cp -r "$RUN"/logs "$OUT/cell-logs" 2>/dev/null || true
mkdir -p "$OUT/rank-logs"
find "$RUN" -name 'rank-*.log' -size -2M | while read -r log; do
  cp "$log" "$OUT/rank-logs/$(basename "$(dirname "$log")")-$(basename "$log")"
done
echo "== done; everything is under $OUT"
