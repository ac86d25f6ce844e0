"""How each status is shown: a symbol (readable without colour) and a colour, shared by CLI and reports."""

from __future__ import annotations

from qlora_check.results.models import Status

STATUS_SYMBOL: dict[Status, str] = {
    Status.PASS: "✓",
    Status.FAIL: "✗",
    Status.ERROR: "E",
    Status.CRASH: "☠",
    Status.OOM: "M",
    Status.TIMEOUT: "⏱",
    Status.SKIP: "–",
    Status.NOT_APPLICABLE: "·",
    Status.XFAIL: "x",
    Status.XPASS: "!",
    Status.INTERRUPTED: "‖",
    Status.FLAKY: "~",
}

STATUS_RICH_STYLE: dict[Status, str] = {
    Status.PASS: "green",
    Status.FAIL: "red",
    Status.ERROR: "red",
    Status.CRASH: "magenta",
    Status.OOM: "magenta",
    Status.TIMEOUT: "yellow",
    Status.SKIP: "dim",
    Status.NOT_APPLICABLE: "dim",
    Status.XFAIL: "cyan",
    Status.XPASS: "bold yellow",
    Status.INTERRUPTED: "yellow",
    Status.FLAKY: "yellow",
}
