"""report.html: one self-contained page (inline CSS and JS, no network) rendered with Jinja2.

The header, counts and evidence table are rendered on the server with autoescaping; the pivot, filters
and drill-down are built in the browser from a JSON payload embedded in a non-executable
``<script type="application/json">`` element, with every character that could end that element escaped.
The page's own script is allowed by hash in a Content-Security-Policy, so no injected script could run
even if escaping failed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from functools import lru_cache
from typing import Any

from jinja2 import Environment, PackageLoader, Template
from markupsafe import Markup

from qlora_check import __version__
from qlora_check.matrix.axes import AXES
from qlora_check.reports.changes import baseline_name, change_groups, is_fixed_upstream, safe_link, xpass_cells
from qlora_check.reports.evidence import evidence
from qlora_check.reports.model import DEFAULT_COLUMNS, DEFAULT_ROWS, RunReport, format_duration, value_sort_key
from qlora_check.reports.nodes import differing_libraries
from qlora_check.reports.style import css_class, status_styles
from qlora_check.results.models import SEVERITY, CellResult, Status
from qlora_check.results.store import utc_now
from qlora_check.status_style import STATUS_SYMBOL

TEMPLATE = "report.html.j2"
SCRIPT = "report.js"
STYLE = "report.css"


def safe_json(data: Any) -> Markup:
    """JSON that can sit inside a <script> element: '<', '>' and '&' written as \\u escapes."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def render_html(report: RunReport) -> str:
    environment = _environment()
    script = environment.loader.get_source(environment, SCRIPT)[0]  # type: ignore[union-attr]
    style = environment.loader.get_source(environment, STYLE)[0]  # type: ignore[union-attr]
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    return _template().render(
        report=report,
        run=report.run,
        host=report.host,
        nodes=report.nodes,
        node_differences=differing_libraries(report.nodes),
        counts=[(s, report.counts[s.value]) for s in SEVERITY if report.counts[s.value]],
        symbol=STATUS_SYMBOL,
        css_class=css_class,
        statuses=status_styles(),
        duration=format_duration(report.duration_s),
        evidence=evidence(report.results, report.host, report.run.get("started_at")),
        payload=safe_json(payload(report)),
        script=Markup(script),
        style=Markup(style),
        script_hash=digest,
        version=__version__,
        generated_at=utc_now(),
        comparison=report.comparison,
        baseline=baseline_name(report.comparison) if report.comparison else "",
        groups=change_groups(report.comparison) if report.comparison else [],
        fixed_upstream=is_fixed_upstream,
        xpass=xpass_cells(report.results),
        xpass_symbol=STATUS_SYMBOL[Status.XPASS],
        safe_link=safe_link,
    )


def payload(report: RunReport) -> dict[str, Any]:
    """What the page's script needs: axes and their values, then each cell, compactly."""
    axes = report.axes
    values: dict[str, list[str]] = {}
    for axis in axes:
        seen = {str(result.values.get(axis)): result.values.get(axis) for result in report.results}
        values[axis] = [text for _, text in sorted((value_sort_key(axis, raw), text) for text, raw in seen.items())]
    index = {axis: {text: i for i, text in enumerate(values[axis])} for axis in axes}
    engines: dict[str, int] = {}  # engine settings repeat across cells: stored once, cells point at them
    first = report.results[0].values if report.results else {}
    common = {name: first.get(name) for name in AXES if name not in axes and name in first}
    return {
        "axes": axes,
        "values": values,
        "common": common,
        "statuses": status_styles(),
        "defaults": {"rows": list(DEFAULT_ROWS), "cols": list(DEFAULT_COLUMNS)},
        "cells": [
            _cell(report, result, [index[a][str(result.values.get(a))] for a in axes], engines)
            for result in report.results
        ],
        "engines": [json.loads(text) for text in engines],
    }


def _cell(report: RunReport, result: CellResult, indices: list[int], engines: dict[str, int]) -> dict[str, Any]:
    cell: dict[str, Any] = {"id": result.cell_id, "label": result.label, "status": result.status.value, "v": indices}
    optional: dict[str, Any] = {
        "reason": result.reason,
        "checks": [
            {"name": c.name, "passed": c.passed, "detail": c.detail, "figures": _rounded(c.figures)}
            for c in result.checks
        ],
        "losses": [_round(x) for x in result.losses],
        "lrs": [_round(x) for x in result.lrs],
        "memory": _rounded(result.memory),
        "timings": _rounded(result.timings),
        "tokens_per_s": _round(result.tokens_per_s) if result.tokens_per_s is not None else None,
        "error": {"type": result.error.type, "message": result.error.message, "traceback": result.error.traceback}
        if result.error
        else None,
        "log": _href(report.log_link(result)),
        "tail": report.log_tail(result),
        "engine": _engine_index(result.engine, engines),
        "attempt": result.attempt if result.attempt != 1 else None,
    }
    cell.update({key: value for key, value in optional.items() if value not in (None, "", [], {})})
    return cell


def _engine_index(engine: dict[str, Any], engines: dict[str, int]) -> int | None:
    if not engine:
        return None
    return engines.setdefault(json.dumps(engine, sort_keys=True), len(engines))


def _href(link: str | None) -> str | None:
    """A link the page can use as href: './' before a relative path so it can never read as a scheme."""
    if link is None or link.startswith("file:"):
        return link
    return "./" + link


def _round(value: float) -> float | str:
    """Four significant digits are plenty for a chart or a table; JSON has no NaN."""
    if not math.isfinite(value):
        return str(value)
    return float(f"{value:.4g}")


def _rounded(data: dict[str, Any]) -> dict[str, Any]:
    return {
        key: _rounded(value) if isinstance(value, dict) else _round(value) if isinstance(value, float) else value
        for key, value in data.items()
    }


@lru_cache(maxsize=1)
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("qlora_check.reports", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _template() -> Template:
    return _environment().get_template(TEMPLATE)
