#!/usr/bin/env bash
# The CUDA checks in one prepared run, for a GPU machine without network access (the device tool of this
# workplace): wheels carried in .whl/ are installed to /tmp/site, then doctor, the CUDA matrix (in parallel
# shards: each shard is its own qlora-check run on the same GPU, since tiny cells leave it mostly idle) and,
# when it exists, the distributed CUDA matrix (NCCL). Runs are written under $WORK (default /tmp/gpu-work); the
# summaries and the merged results are copied to $OUT (default /tmp/gpu-out), at most eight files.
#   bash benchmarks/gpu_check.sh [SECONDS_PER_MATRIX]
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu-out}
WORK=${WORK:-/tmp/gpu-work}
mkdir -p "$OUT" "$WORK"
LIMIT=${1:-300}
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  for sdist in .whl/*.tar.gz; do
    [ -e "$sdist" ] && python3 -m pip install -q --no-index --no-deps --no-build-isolation --target /tmp/site "$sdist"
  done
fi
export PYTHONPATH="$PWD:/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
export QLORA_CHECK_CACHE_DIR="$WORK/cache"
python3 - <<'PY' 2>&1 | tee "$OUT/versions.txt"
import importlib.metadata as m
import torch
print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())
for name in ("transformers", "peft", "bitsandbytes", "hqq", "optimum-quanto", "pydantic"):
    try:
        print(name, m.version(name))
    except m.PackageNotFoundError:
        print(name, "missing")
PY
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee -a "$OUT/versions.txt"
timeout 240 python3 -m qlora_check doctor --json --jobs 8 > "$OUT/doctor.json" 2> "$WORK/doctor.err"
echo "doctor exit $?" | tee -a "$OUT/versions.txt"
python3 - "$OUT/doctor.json" <<'PY' | tee -a "$OUT/versions.txt"
import json, sys
document = json.load(open(sys.argv[1]))
for probe in document["probes"]["results"]:
    print("probe", probe["backend"], probe["family"], probe["status"], probe["reason"][:200])
PY
run_shards() {  # MATRIX NAME SHARDS
  local pids=()
  for index in $(seq 1 "$3"); do
    timeout "$LIMIT" python3 -m qlora_check run "$1" --shard "$index/$3" --out "$WORK/$2-$index" --root "$WORK/root-$2" \
      --jobs 2 > "$WORK/$2-$index.txt" 2>&1 &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid"; done
  if [ "$3" -gt 1 ]; then
    python3 -m qlora_check merge "$WORK"/$2-[0-9]*/ --out "$WORK/$2" > "$WORK/$2-merge.txt" 2>&1
  else
    cp -r "$WORK/$2-1" "$WORK/$2"
  fi
  cp "$WORK/$2/results.jsonl" "$OUT/$2-results.jsonl"
  python3 - "$WORK/$2" <<'PY'
import collections, json, sys
from pathlib import Path
results = [json.loads(line) for line in (Path(sys.argv[1]) / "results.jsonl").read_text().splitlines() if line.strip()]
print(Path(sys.argv[1]).name, dict(collections.Counter(r["status"] for r in results)))
for r in results:
    if r["status"] not in ("pass", "n/a", "skip", "xfail"):
        print(" ", r["status"], r["label"], "|", r["reason"][:240])
PY
}
run_shards matrices/cuda.yaml cuda 4 | tee "$OUT/cuda-summary.txt"
if [ -f matrices/distributed-cuda.yaml ]; then
  run_shards matrices/distributed-cuda.yaml distributed-cuda 1 | tee "$OUT/distributed-summary.txt"
fi
# qlora_check.testing on CUDA: memory_tracker's allocator peak, train_steps, the plugin's markers and fixtures.
timeout "$LIMIT" python3 -m pytest -p no:cacheprovider -rA examples/pytest -k cuda > "$OUT/pytest-cuda.txt" 2>&1
echo "pytest examples -k cuda exit $?" | tee -a "$OUT/cuda-summary.txt"
tail -12 "$OUT/pytest-cuda.txt" | tee -a "$OUT/cuda-summary.txt"
tar czf "$OUT/runs.tgz" -C "$WORK" . 2>/dev/null
ls -la "$OUT"
