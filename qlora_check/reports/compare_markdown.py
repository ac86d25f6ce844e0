"""A comparison as Markdown, for a CI step summary or a PR comment."""

from __future__ import annotations

from qlora_check.reports.compare import ChangeKind, Comparison
from qlora_check.reports.md_text import md_escape

TITLES = {
    ChangeKind.REGRESSION: "Regressions (newly failing)",
    ChangeKind.FIX: "Fixes (newly passing)",
    ChangeKind.DEFAULT_CHANGED: "Changed by a new default (not regressions)",
    ChangeKind.STATUS: "Other status changes",
    ChangeKind.MEMORY: "Peak memory changes",
    ChangeKind.SPEED: "Speed changes",
    ChangeKind.LOSS: "Loss-curve drift",
    ChangeKind.ADDED: "Cells added",
    ChangeKind.REMOVED: "Cells removed",
}
SECTIONS = tuple((kind, TITLES[kind]) for kind in ChangeKind)


def _cell(text: object) -> str:
    """Labels and details come from results (a model name can be anything): escaped like summary.md."""
    return md_escape(str(text))


def comparison_markdown(comparison: Comparison) -> str:
    counts = comparison.to_dict()["counts"]
    lines = [
        f"## qlora-check: {_cell(comparison.run_b)} vs {_cell(comparison.run_a)}",
        "",
        f"{comparison.cells_compared} cells compared: " + ", ".join(f"{n} {kind}" for kind, n in counts.items() if n)
        if comparison.changes
        else f"{comparison.cells_compared} cells compared: no changes",
    ]
    for kind, title in SECTIONS:
        changes = comparison.of_kind(kind)
        if not changes:
            continue
        lines += ["", f"### {title}", "", "| cell | id | change |", "| --- | --- | --- |"]
        lines += [f"| {_cell(c.label)} | `{c.cell_id}` | {_cell(c.detail)} |" for c in changes]
    if comparison.environment:
        lines += ["", "### Environment changes", "", "| what | before | after |", "| --- | --- | --- |"]
        lines += [
            f"| {_cell(name)} | {_cell(v['before'])} | {_cell(v['after'])} |"
            for name, v in comparison.environment.items()
        ]
    return "\n".join(lines) + "\n"
