"""One exception hierarchy, caught once at the CLI boundary (exit code 2, no traceback)."""

from __future__ import annotations


class QloraCheckError(Exception):
    """A problem the user can fix: bad input, a missing file, an unknown name.

    ``tip`` is an optional one-line hint shown after the message.
    """

    exit_code = 2

    def __init__(self, message: str, *, tip: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.tip = tip


class MatrixError(QloraCheckError):
    """The matrix file is unreadable, malformed or names unknown axes or values."""


class UnknownNameError(QloraCheckError):
    """A registry lookup for a name that does not exist."""


class ResultsError(QloraCheckError):
    """A run directory or results file is missing, unreadable or of an unsupported schema version."""


class RunLockedError(QloraCheckError):
    """Another live process is writing the same run directory."""
