"""junit.xml: one testcase per cell, so any CI system shows the matrix as tests.

classname is ``backend.quantizer``, name the cell's label. skip and n/a (and xfail, interrupted) become
``<skipped>`` with the reason; an exception, crash, oom or timeout becomes ``<error>``; any other result
that fails the run (a failed check, flaky, a strict xpass) becomes ``<failure>``; the rest pass.
Failure bodies carry the traceback and the log tail.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter

from qlora_check.reports.logs import clean_text
from qlora_check.reports.model import RunReport, fails
from qlora_check.results.models import CellResult, Status

ERRORS = frozenset({Status.ERROR, Status.CRASH, Status.OOM, Status.TIMEOUT})
SKIPPED = frozenset({Status.SKIP, Status.NOT_APPLICABLE, Status.XFAIL, Status.INTERRUPTED})


def cell_time(result: CellResult) -> float:
    """Seconds the cell took: the parent's wall clock when recorded, else the worker's total."""
    for key in ("wall_s", "total_s"):
        value = result.timings.get(key)
        if isinstance(value, (int, float)):
            return float(value)
    return 0.0


def render_junit(report: RunReport) -> str:
    kinds: Counter[str] = Counter()
    suite = ET.Element("testsuite", name=clean_text(report.matrix_name))
    properties = ET.SubElement(suite, "properties")
    _property(properties, "run_id", str(report.run.get("run_id", "")))
    _property(properties, "command", " ".join(str(part) for part in report.run.get("command", [])))
    for name, version in (report.host.get("libraries") or {}).items():
        if version:
            _property(properties, name, str(version))
    total_time = 0.0
    for result in report.results:
        seconds = cell_time(result)
        total_time += seconds
        case = ET.SubElement(
            suite,
            "testcase",
            classname=clean_text(f"{result.values.get('backend')}.{result.values.get('quantizer')}"),
            name=clean_text(result.label),
            time=f"{seconds:.3f}",
        )
        kinds[_add_outcome(case, result, report)] += 1
    suite.set("tests", str(len(report.results)))
    suite.set("failures", str(kinds["failure"]))
    suite.set("errors", str(kinds["error"]))
    suite.set("skipped", str(kinds["skipped"]))
    suite.set("time", f"{total_time:.3f}")
    suite.set("timestamp", str(report.run.get("started_at") or ""))
    suite.set("hostname", clean_text(str(report.host.get("hostname", ""))))
    root = ET.Element("testsuites", name="qlora-check")
    for key in ("tests", "failures", "errors", "skipped", "time"):
        root.set(key, suite.get(key, "0"))
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _add_outcome(case: ET.Element, result: CellResult, report: RunReport) -> str:
    status = result.status
    message = clean_text(f"{status.value}: {result.reason}" if result.reason else status.value)
    if status in SKIPPED:
        ET.SubElement(case, "skipped", message=message)
        return "skipped"
    if fails(result):
        kind = "error" if status in ERRORS else "failure"
        element = ET.SubElement(case, kind, message=message, type=_error_type(result))
        element.text = _body(result, report)
        return kind
    return "passed"


def _error_type(result: CellResult) -> str:
    return clean_text(result.error.type if result.error else result.status.value)


def _body(result: CellResult, report: RunReport) -> str:
    parts = [result.reason]
    parts += [f"check {check.name}: {check.detail}" for check in result.checks if not check.passed]
    if result.error and result.error.traceback:
        parts.append(result.error.traceback)
    tail = report.log_tail(result)
    if tail:
        parts.append(f"--- log tail ({report.log_link(result)}) ---\n{tail}")
    return clean_text("\n".join(part for part in parts if part))


def _property(parent: ET.Element, name: str, value: str) -> None:
    ET.SubElement(parent, "property", name=clean_text(name), value=clean_text(value))
