"""summary.md: a compact Markdown summary for a CI step summary or a PR comment.

Counts by status, the failing cells with their reasons, and the evidence table. Text from results is
escaped for Markdown tables and for the HTML that GitHub renders inside Markdown.
"""

from __future__ import annotations

from qlora_check.reports.evidence import Evidence, evidence
from qlora_check.reports.logs import clean_text
from qlora_check.reports.model import RunReport, format_duration
from qlora_check.results.models import SEVERITY
from qlora_check.status_style import STATUS_SYMBOL

MAX_FAILING_ROWS = 50
MAX_REASON = 200


def md_escape(text: str) -> str:
    """Text for one Markdown table cell: HTML-escaped, pipes and newlines neutralised."""
    text = clean_text(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    for character in "\\|`*_[]":
        text = text.replace(character, "\\" + character)
    return " ".join(text.split())


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
