"""The run's last step, which the caller takes after `run_matrix`: compare with the baseline (when asked),
then write every report. Reports are rendered from the run directory alone, so a failure here never loses
a result: it becomes a Notice and `qlora-check report` can try again."""

from __future__ import annotations

import json
from pathlib import Path

from qlora_check.events import Observer, ignore
from qlora_check.fileio import write_atomically
from qlora_check.reports.compare import Comparison, compare_runs
from qlora_check.reports.compare_markdown import comparison_markdown
from qlora_check.reports.writer import write_reports_after_run


def write_comparison(comparison: Comparison, run_dir: Path) -> None:
    """comparison.json and comparison.md beside the run's results (the report shows them)."""
    write_atomically(run_dir / "comparison.json", json.dumps(comparison.to_dict(), indent=2) + "\n")
    write_atomically(run_dir / "comparison.md", comparison_markdown(comparison))


def finish_run(
    run_dir: Path, baseline: Path | None, interrupted: bool = False, observer: Observer = ignore
) -> Comparison | None:
    """Compare ``run_dir`` with ``baseline`` (skipped for an interrupted run), then write its reports."""
    comparison = None
    if baseline is not None and not interrupted:
        comparison = compare_runs(baseline, run_dir)
        write_comparison(comparison, run_dir)
    write_reports_after_run(run_dir, observer)
    return comparison
