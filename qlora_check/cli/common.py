"""What every command shares: the consoles and the single place QloraCheckError becomes exit 2."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from qlora_check.errors import QloraCheckError
from qlora_check.results.models import Status
from qlora_check.status_style import STATUS_RICH_STYLE, STATUS_SYMBOL

console = Console(highlight=False)
error_console = Console(stderr=True, highlight=False)

P = ParamSpec("P")
R = TypeVar("R")


def user_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn a QloraCheckError into one clear line (and a tip) on stderr and exit code 2; no traceback."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except QloraCheckError as exc:
            error_console.print(f"[bold red]error:[/] {escape(exc.message)}", soft_wrap=True)
            if exc.tip:
                error_console.print(f"[dim]Tip: {escape(exc.tip)}[/]", soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None

    return wrapper


def status_text(status: Status | str) -> str:
    """Rich markup for a status: symbol and word, coloured."""
    status = Status(status)
    return f"[{STATUS_RICH_STYLE[status]}]{STATUS_SYMBOL[status]} {status.value}[/]"
