"""Result records: what a finished cell attempt produced, and what a run is.

Every record written for machines carries ``schema_version``; readers reject newer versions and
migrate older ones (see `qlora_check.results.store`). The formats are documented in docs/.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from enum import Enum
from typing import Any

RESULT_SCHEMA_VERSION = 2


class Status(str, Enum):
    """One status per result. Skip and n/a are never failures."""

    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"
    CRASH = "crash"
    OOM = "oom"
    TIMEOUT = "timeout"
    SKIP = "skip"
    NOT_APPLICABLE = "n/a"
    XFAIL = "xfail"
    XPASS = "xpass"
    INTERRUPTED = "interrupted"
    FLAKY = "flaky"

    @property
    def is_failure(self) -> bool:
        return self in FAILURE_STATUSES

    @property
    def is_final(self) -> bool:
        """Whether a result with this status ends a cell (an interrupted cell is run again on resume)."""
        return self is not Status.INTERRUPTED


# xpass is not a failure by itself (a fix happened upstream); a strict expectation makes it one.
FAILURE_STATUSES = frozenset({Status.FAIL, Status.ERROR, Status.CRASH, Status.OOM, Status.TIMEOUT, Status.FLAKY})
# Worst first: the order a pivot cell uses to pick its colour.
SEVERITY = (
    Status.CRASH,
    Status.OOM,
    Status.TIMEOUT,
    Status.ERROR,
    Status.FAIL,
    Status.XPASS,
    Status.FLAKY,
    Status.INTERRUPTED,
    Status.XFAIL,
    Status.PASS,
    Status.SKIP,
    Status.NOT_APPLICABLE,
)


@dataclass(frozen=True)
class CheckResult:
    """One verdict a cell computed about itself, with the figures behind it."""

    name: str
    passed: bool
    detail: str
    figures: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckResult:
        return cls(
            name=data["name"],
            passed=bool(data["passed"]),
            detail=data.get("detail", ""),
            figures=dict(data.get("figures", {})),
        )


@dataclass(frozen=True)
class ErrorInfo:
    """An exception or fault: class, message, and the tail of the traceback or log."""

    type: str
    message: str
    traceback: str = ""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ErrorInfo:
        return cls(type=data["type"], message=data["message"], traceback=data.get("traceback", ""))


@dataclass(frozen=True)
class CellResult:
    """What one cell attempt produced. Immutable; serialised as one line of results.jsonl."""

    cell_id: str
    label: str
    values: dict[str, Any]
    status: Status
    reason: str = ""
    checks: list[CheckResult] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    lrs: list[float] = field(default_factory=list)
    memory: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    tokens_per_s: float | None = None
    error: ErrorInfo | None = None
    log_path: str | None = None
    engine: dict[str, Any] = field(default_factory=dict)
    attempt: int = 1
    attempts: list[dict[str, Any]] = field(default_factory=list)
    expected: dict[str, Any] | None = None
    started_at: str | None = None
    ended_at: str | None = None
    node: dict[str, Any] | None = None  # the Ray node that ran the cell (host, fingerprint, versions)
    schema_version: int = RESULT_SCHEMA_VERSION

    @property
    def fails_run(self) -> bool:
        """Whether this result makes the run's exit code 1."""
        strict_xpass = self.status is Status.XPASS and bool(self.expected and self.expected.get("strict"))
        return self.status.is_failure or strict_xpass

    def to_dict(self) -> dict[str, Any]:
        """Strict-JSON-safe: every non-finite float, wherever it sits (losses, check figures, memory
        counters), becomes the string "nan" / "inf" / "-inf"."""
        data: dict[str, Any] = json_safe(asdict(self))
        data["status"] = self.status.value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CellResult:
        known = {f.name for f in fields(cls)}
        kwargs = {key: value for key, value in data.items() if key in known}
        kwargs["status"] = Status(data["status"])
        kwargs["checks"] = [CheckResult.from_dict(check) for check in data.get("checks", [])]
        kwargs["error"] = ErrorInfo.from_dict(data["error"]) if data.get("error") else None
        kwargs["losses"] = [_float_from_json(x) for x in data.get("losses", [])]
        kwargs["lrs"] = [_float_from_json(x) for x in data.get("lrs", [])]
        return cls(**kwargs)


def json_safe(value: Any) -> Any:
    """JSON has no NaN or infinity: write them as strings so files stay strict JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    return value


def _float_from_json(value: float | str) -> float:
    return float(value)
