"""history.html: the history of a reports root as one static, self-contained page (no script at all).

It shares report.html's stylesheet and status colours. Every string from runs and results goes
through Jinja2 autoescaping; links to run reports are relative, percent-encoded paths, and the page's
Content-Security-Policy allows no script, so nothing in a result could ever run.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Template
from markupsafe import Markup

from qlora_check import __version__
from qlora_check.fileio import write_atomically
from qlora_check.reports.compare import environment_diff
from qlora_check.reports.history import History, RunRecord
from qlora_check.reports.html import _environment
from qlora_check.reports.style import css_class, status_styles
from qlora_check.results.models import SEVERITY, Status
from qlora_check.results.store import summarise, utc_now
from qlora_check.status_style import STATUS_SYMBOL

TEMPLATE = "history.html.j2"
STYLES = ("report.css", "history.css")
HISTORY_FILE = "history.html"
SPARK_STEP = 9  # pixels between two runs on a sparkline
SPARK_HEIGHT = 22


@dataclass(frozen=True)
class Sparkline:
    """An inline SVG line of one figure over the runs; gaps where a run has no figure."""

    width: int
    height: int
    path: str
    dots: list[tuple[float, float]]
    title: str
    last: str


def sparkline(values: Sequence[float | None], unit: str) -> Sparkline | None:
    """The line for ``values`` (one per run, oldest first); None when no run has a figure."""
    known = [v for v in values if v is not None and math.isfinite(v)]
    if not known:
        return None
    low, high = min(known), max(known)
    span = (high - low) or 1.0
    width = max(2 * SPARK_STEP, SPARK_STEP * (len(values) - 1) + 6)

    def point(index: int, value: float) -> tuple[float, float]:
        x = 3 + index * SPARK_STEP
        y = 3 + (1 - (value - low) / span) * (SPARK_HEIGHT - 6) if high > low else SPARK_HEIGHT / 2
        return round(x, 1), round(y, 1)

    path, pen, dots = [], False, []
    for index, value in enumerate(values):
        if value is None or not math.isfinite(value):
            pen = False
            continue
        x, y = point(index, value)
        path.append(f"{'L' if pen else 'M'}{x} {y}")
        dots.append((x, y))
        pen = True
    shown = [f"{_figure(v)}" if v is not None else "–" for v in values]
    title = f"{unit} per run, oldest first: " + ", ".join(shown) + f" (range {_figure(low)} to {_figure(high)})"
    return Sparkline(width, SPARK_HEIGHT, " ".join(path), dots[-1:], title, _figure(known[-1]))


def run_link(run: RunRecord, out: Path) -> str | None:
    """A relative link from the page to the run's report.html, when there is one."""
    report = run.run_dir / "report.html"
    if not report.is_file():
        return None
    relative = os.path.relpath(report.resolve(), out.resolve().parent)
    return "./" + quote(Path(relative).as_posix())  # './' so a path can never read as a scheme


def render_history(history: History, out: Path) -> str:
    environment = _environment()
    style = "\n".join(environment.loader.get_source(environment, name)[0] for name in STYLES)  # type: ignore[union-attr]
    newest = summarise(history.newest.results)
    runs = history.runs
    return _template().render(
        history=history,
        runs=runs,
        links=[run_link(run, out) for run in runs],
        env_changes=[environment_diff(runs[i - 1].info, run.info) if i else {} for i, run in enumerate(runs)],
        failing_counts=[sum(result.fails_run for result in run.results.values()) for run in runs],
        counts=[(s, newest[s.value]) for s in SEVERITY if newest[s.value]],
        xpass=[cell for cell in history.cells if cell.now is not None and cell.now.status is Status.XPASS],
        memory={cell.cell_id: sparkline(cell.series("peak_mb"), "peak MiB") for cell in history.cells},
        speed={cell.cell_id: sparkline(cell.series("tokens_per_s"), "tokens/s") for cell in history.cells},
        symbol=STATUS_SYMBOL,
        css_class=css_class,
        statuses=status_styles(),
        short_time=short_time,
        style=Markup(style),
        version=__version__,
        generated_at=utc_now(),
    )


def write_history(history: History, out: Path) -> Path:
    """Write the page atomically (temp file + rename): a reader never sees half of it."""
    out.parent.mkdir(parents=True, exist_ok=True)
    return write_atomically(out, render_history(history, out))


def short_time(value: Any) -> str:
    """'11-24 07:06' from an ISO time; the text itself when it is not one."""
    text = str(value or "")
    return f"{text[5:10]} {text[11:16]}" if len(text) >= 16 and text[4] == "-" else text


def _figure(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"


def _template() -> Template:
    return _environment().get_template(TEMPLATE)
