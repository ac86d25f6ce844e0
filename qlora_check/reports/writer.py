"""Write a run's reports into its directory: report.html, report.json, junit.xml, summary.md.

Each file is written atomically (temp file + rename) so a reader never sees half a report.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from qlora_check.events import Notice, Observer
from qlora_check.fileio import write_atomically
from qlora_check.reports.html import render_html
from qlora_check.reports.json_report import render_json
from qlora_check.reports.junit import render_junit
from qlora_check.reports.markdown import render_markdown
from qlora_check.reports.model import RunReport, load_report

Renderer = Callable[[RunReport], str]
FORMATS: dict[str, tuple[str, Renderer]] = {
    "html": ("report.html", render_html),
    "json": ("report.json", render_json),
    "junit": ("junit.xml", render_junit),
    "md": ("summary.md", render_markdown),
}


def write_reports(run_dir: Path, formats: Iterable[str] = FORMATS) -> list[Path]:
    """Render ``formats`` (all by default) from the run's files; the paths written, in order."""
    return write_report(load_report(run_dir), formats)


def write_report(report: RunReport, formats: Iterable[str] = FORMATS) -> list[Path]:
    """Render ``formats`` of an already loaded run into its directory."""
    written = []
    for name in formats:
        filename, renderer = FORMATS[name]
        written.append(write_atomically(report.run_dir / filename, renderer(report)))
    return written


def write_reports_after_run(run_dir: Path, observer: Observer) -> list[Path]:
    """The run's last step: render every report; a failure becomes a Notice, never a lost run."""
    try:
        return write_reports(run_dir)
    except Exception as exc:  # results are already safe on disk; a report bug must not hide them
        observer(Notice(f"reports were not written: {type(exc).__name__}: {exc}; try `qlora-check report {run_dir}`"))
        return []
