"""report.json: the whole run for machines, in the format qlora_check/schemas/report.schema.json describes.

Top level: schema_version, generator, run metadata (run.json as written), counts by status, every
cell's final result (with its log file relative to the run), the default pivot, the evidence table, and
the comparison with an earlier run when the run has one (comparison.json, from `run --compare-to`).
"""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

from qlora_check import __version__
from qlora_check.reports.changes import comparison_document
from qlora_check.reports.evidence import evidence
from qlora_check.reports.model import DEFAULT_COLUMNS, DEFAULT_ROWS, RunReport
from qlora_check.reports.nodes import differing_libraries
from qlora_check.reports.pivot import pivot
from qlora_check.results.store import utc_now

REPORT_SCHEMA_VERSION = 1
SCHEMA_RESOURCE = "report.schema.json"


def report_document(report: RunReport) -> dict[str, Any]:
    """The report.json document of a run."""
    run = {key: value for key, value in report.run.items() if key != "schema_version"}
    cells = []
    for result in report.results:
        cell = result.to_dict()
        cell["log_file"] = report.log_link(result)
        tail = report.log_tail(result)
        if tail:
            cell["log_tail"] = tail
        cells.append(cell)
    return {
        "schema_version": REPORT_SCHEMA_VERSION,
        "generator": {"name": "qlora-check", "version": __version__, "generated_at": utc_now()},
        "run": {**run, "run_schema_version": report.run.get("schema_version"), "duration_s": report.duration_s},
        "counts": report.counts,
        "axes": report.axes,
        "cells": cells,
        "pivots": [pivot(report.results, DEFAULT_ROWS, DEFAULT_COLUMNS).to_dict()],
        "evidence": evidence(report.results, report.host, report.run.get("started_at")).to_dict(),
        "warnings": list(report.warnings),
        "comparison": comparison_document(report.comparison) if report.comparison else None,
        "nodes": _nodes(report),
    }


def _nodes(report: RunReport) -> dict[str, Any]:
    nodes = report.nodes
    return {"hosts": [node.to_dict() for node in nodes], "differing_libraries": differing_libraries(nodes)}


def render_json(report: RunReport) -> str:
    return json.dumps(report_document(report), indent=1, ensure_ascii=False, allow_nan=False) + "\n"


def report_schema() -> dict[str, Any]:
    """The JSON Schema of report.json, shipped as package data."""
    text = files("qlora_check").joinpath("schemas", SCHEMA_RESOURCE).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema
