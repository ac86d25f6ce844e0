"""Merging runs (shards of one matrix run on several machines or CI jobs) into one run directory."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from qlora_check.errors import QloraCheckError
from qlora_check.results.models import CellResult
from qlora_check.results.store import RunWriter, read_results, read_run, summarise, utc_now


@dataclass
class MergeOutcome:
    run_dir: Path
    results: dict[str, CellResult]
    counts: dict[str, int]
    conflicts: list[str]


def merge_runs(run_dirs: list[Path], out: Path) -> MergeOutcome:
    """Combine the final results of ``run_dirs`` into a new run at ``out``.

    A cell present in several runs with different statuses is a conflict: reported, and the result
    that ended last is kept.
    """
    if len(run_dirs) < 2:
        raise QloraCheckError("merge needs at least two run directories")
    if (out / "run.json").exists():
        raise QloraCheckError(f"{out} already holds a run", tip="choose another --out")
    runs = [read_run(run_dir) for run_dir in run_dirs]
    contents = {run.get("matrix", {}).get("content") for run in runs}
    if len(contents) != 1:
        raise QloraCheckError("these runs come from different matrices (their matrix content differs)")
    chosen: dict[str, tuple[CellResult, Path]] = {}
    conflicts: list[str] = []
    for run_dir in run_dirs:
        for cell_id, result in read_results(run_dir).final().items():
            if cell_id in chosen:
                kept, kept_dir = chosen[cell_id]
                if kept.status is not result.status:
                    where = f"{kept.status.value} in {kept_dir}, {result.status.value} in {run_dir}"
                    conflicts.append(f"{result.label} ({cell_id}): {where}")
                if (kept.ended_at or "") >= (result.ended_at or ""):
                    continue
            chosen[cell_id] = (result, run_dir)
    writer = RunWriter(out)
    writer.acquire()
    try:
        results = {cell_id: _copy_log(result, writer) for cell_id, (result, _) in chosen.items()}
        for result in results.values():
            writer.append(result)
        counts = summarise(results)
        writer.write_run(_merged_document(runs, run_dirs, out, counts, conflicts))
    finally:
        writer.release()
    return MergeOutcome(out, results, counts, conflicts)


def _copy_log(result: CellResult, writer: RunWriter) -> CellResult:
    if not result.log_path or not Path(result.log_path).is_file():
        return result
    target = writer.logs / Path(result.log_path).name
    shutil.copyfile(result.log_path, target)
    return replace(result, log_path=str(target))


def _merged_document(
    runs: list[dict[str, Any]], run_dirs: list[Path], out: Path, counts: dict[str, int], conflicts: list[str]
) -> dict[str, Any]:
    first = runs[0]
    statuses = {run.get("status") for run in runs}
    return {
        **{key: value for key, value in first.items() if key != "schema_version"},
        "run_id": out.name,
        "status": "interrupted" if "interrupted" in statuses else "finished",
        "started_at": min(run.get("started_at") or "" for run in runs),
        "ended_at": max(run.get("ended_at") or "" for run in runs) or utc_now(),
        "shard": None,
        "planned": {
            "cells": sum(run.get("planned", {}).get("cells", 0) for run in runs),
            "run": sum(run.get("planned", {}).get("run", 0) for run in runs),
        },
        "summary": counts,
        "merged_from": [
            {
                "run_dir": str(run_dir),
                "run_id": run.get("run_id"),
                "hostname": run.get("host", {}).get("hostname"),
                "shard": run.get("shard"),
                "summary": run.get("summary"),
            }
            for run, run_dir in zip(runs, run_dirs, strict=True)
        ],
        "hosts": [run.get("host", {}) for run in runs],
        "conflicts": conflicts,
    }
