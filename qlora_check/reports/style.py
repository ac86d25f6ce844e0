"""How statuses look in HTML: a background and a text colour per status, picked for contrast.

Failures are warm (red, magenta, orange), passes green, skip and n/a neutral greys with different
patterns in CSS, so the matrix reads without colour too (every status also carries its symbol and word).
"""

from __future__ import annotations

from qlora_check.results.models import SEVERITY, Status
from qlora_check.status_style import STATUS_SYMBOL

# (background, foreground); the foreground meets WCAG AA contrast on its background.
STATUS_HTML_COLOUR: dict[Status, tuple[str, str]] = {
    Status.PASS: ("#1a7f37", "#ffffff"),
    Status.FAIL: ("#cf222e", "#ffffff"),
    Status.ERROR: ("#a40e26", "#ffffff"),
    Status.CRASH: ("#8250df", "#ffffff"),
    Status.OOM: ("#6639ba", "#ffffff"),
    Status.TIMEOUT: ("#bc4c00", "#ffffff"),
    Status.SKIP: ("#eaeef2", "#424a53"),
    Status.NOT_APPLICABLE: ("#f6f8fa", "#6e7781"),
    Status.XFAIL: ("#ddf4ff", "#0550ae"),
    Status.XPASS: ("#fff1c2", "#7d4e00"),
    Status.INTERRUPTED: ("#fff8c5", "#633c01"),
    Status.FLAKY: ("#ffebe9", "#a40e26"),
}


def status_styles() -> list[dict[str, str]]:
    """Every status, worst first, with what the page needs to show it."""
    return [
        {
            "status": status.value,
            "symbol": STATUS_SYMBOL[status],
            "background": STATUS_HTML_COLOUR[status][0],
            "foreground": STATUS_HTML_COLOUR[status][1],
            "css": css_class(status),
        }
        for status in SEVERITY
    ]


def css_class(status: Status | str) -> str:
    """A CSS class name for a status ('n/a' has a slash)."""
    return "st-" + Status(status).value.replace("/", "")
