"""Text for Markdown tables that GitHub renders: shared by summary.md and the comparison's Markdown."""

from __future__ import annotations

from qlora_check.reports.logs import clean_text


def md_escape(text: str) -> str:
    """Text for one Markdown table cell: HTML-escaped, pipes and newlines neutralised."""
    text = clean_text(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    for character in "\\|`*_[]":
        text = text.replace(character, "\\" + character)
    return " ".join(text.split())
