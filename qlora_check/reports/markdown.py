"""summary.md: a compact Markdown summary for a CI step summary or a PR comment.

Counts by status, the failing cells with their reasons, and the evidence table. Text from results is
escaped for Markdown tables and for the HTML that GitHub renders inside Markdown.
"""

from __future__ import annotations

from qlora_check.reports.changes import baseline_name, xpass_cells
from qlora_check.reports.compare import Comparison
from qlora_check.reports.compare_markdown import comparison_markdown
from qlora_check.reports.evidence import Evidence, evidence
from qlora_check.reports.md_text import md_escape
from qlora_check.reports.model import RunReport, format_duration
from qlora_check.results.models import SEVERITY, CellResult
from qlora_check.status_style import STATUS_SYMBOL

MAX_FAILING_ROWS = 50
MAX_REASON = 200


def render_markdown(report: RunReport) -> str:
    counts = report.counts
    lines = [
        f"## qlora-check: {md_escape(report.matrix_name)}",
        "",
        f"{len(report.results)} cells on {md_escape(str(report.host.get('hostname', '?')))}, "
        f"started {md_escape(str(report.run.get('started_at', '?')))}, took {format_duration(report.duration_s)}.",
        "",
        "| status | cells |",
        "| --- | ---: |",
    ]
    lines += [f"| {STATUS_SYMBOL[s]} {s.value} | {counts[s.value]} |" for s in SEVERITY if counts[s.value]]
    left_out = report.not_applicable_left_out
    if left_out:
        reasons = "; ".join(f"{n}: {md_escape(reason)}" for reason, n in list(left_out.items())[:MAX_FAILING_ROWS])
        lines += ["", f"{sum(left_out.values())} n/a combinations left out of the plan ({reasons})."]
    lines += xpass_lines(xpass_cells(report.results))
    if report.comparison is not None:
        lines += changes_lines(report.comparison)
    failing = report.failing()
    lines += ["", f"### Failing cells ({len(failing)})", ""]
    if failing:
        lines += ["| status | cell | reason |", "| --- | --- | --- |"]
        for result in failing[:MAX_FAILING_ROWS]:
            reason = result.reason if len(result.reason) <= MAX_REASON else result.reason[:MAX_REASON] + "…"
            symbol = STATUS_SYMBOL[result.status]
            lines.append(f"| {symbol} {result.status.value} | {md_escape(result.label)} | {md_escape(reason)} |")
        if len(failing) > MAX_FAILING_ROWS:
            lines.append(f"\n… and {len(failing) - MAX_FAILING_ROWS} more (see report.html).")
    else:
        lines.append("None.")
    lines += ["", *evidence_table(evidence(report.results, report.host, report.run.get("started_at")))]
    return "\n".join(lines) + "\n"


def xpass_lines(xpass: list[CellResult]) -> list[str]:
    """Cells that pass although expected to fail: said near the top, a fix may have happened upstream."""
    if not xpass:
        return []
    lines = ["", f"### ! Passing although expected to fail: fixed upstream? ({len(xpass)})", ""]
    lines += ["| cell | expected | reason |", "| --- | --- | --- |"]
    for result in xpass:
        expected = result.expected or {}
        lines.append(
            f"| {md_escape(result.label)} | {md_escape(str(expected.get('status', '?')))} "
            f"| {md_escape(str(expected.get('reason', '')))} |"
        )
    return lines


def changes_lines(comparison: Comparison) -> list[str]:
    """The comparison's own Markdown, one heading level down, under "Changes since <run>"."""
    body = comparison_markdown(comparison).splitlines()[1:]  # its title names both runs by path
    demoted = ["#" + line if line.startswith("#") else line for line in body]
    return ["", f"### Changes since {md_escape(baseline_name(comparison))}", *demoted]


def evidence_table(table: Evidence) -> list[str]:
    """The evidence table as Markdown lines."""
    lines = ["### Evidence", ""]
    if not table.quantizers:
        return [*lines, "No cells to show."]
    lines.append("| quantizer | " + " | ".join(md_escape(backend) for backend in table.backends) + " |")
    lines.append("| --- |" + " :---: |" * len(table.backends))
    for quantizer in table.quantizers:
        marks = []
        for backend in table.backends:
            entry = table.entry(quantizer, backend)
            marks.append(f"{entry.emoji} {entry.passed}/{entry.tested}" if entry else "")
        lines.append(f"| {md_escape(quantizer)} | " + " | ".join(marks) + " |")
    versions = ", ".join(f"{md_escape(name)} {md_escape(version)}" for name, version in table.libraries.items())
    lines += [
        "",
        f"🟢 all tested cells pass · 🟡 some · 🔴 none · blank: not tested. Verified on {table.date}"
        + (f" with {versions}." if versions else "."),
    ]
    return lines
