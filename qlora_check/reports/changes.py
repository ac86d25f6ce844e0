"""The comparison a run carries (comparison.json, written by `run --compare-to`), as the reports show it.

A run's reports must render even when that file is damaged or from a newer qlora-check: problems become
report warnings, never errors. Nothing here imports torch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qlora_check.reports.compare import COMPARISON_SCHEMA_VERSION, Change, ChangeKind, Comparison, Thresholds
from qlora_check.reports.compare_markdown import SECTIONS
from qlora_check.results.models import CellResult, Status, json_safe

COMPARISON_FILE = "comparison.json"
FIXED_UPSTREAM = "fixed upstream?"
# How each kind of change looks in report.html: the CSS class of its group (regressions in red first).
KIND_CLASS = {
    ChangeKind.REGRESSION: "bad",
    ChangeKind.FIX: "good",
    ChangeKind.DEFAULT_CHANGED: "note",
    ChangeKind.STATUS: "note",
    ChangeKind.MEMORY: "figure",
    ChangeKind.SPEED: "figure",
    ChangeKind.LOSS: "figure",
    ChangeKind.ADDED: "quiet",
    ChangeKind.REMOVED: "quiet",
}


def load_comparison(run_dir: Path) -> tuple[Comparison | None, list[str]]:
    """The run's comparison, or None; the second value holds warnings (unreadable or newer file)."""
    path = run_dir / COMPARISON_FILE
    if not path.is_file():
        return None, []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        version = data.get("schema_version")
        if not isinstance(version, int) or version > COMPARISON_SCHEMA_VERSION:
            return None, [f"{path}: schema_version {version!r} is not one this qlora-check reads; not shown"]
        return comparison_from_dict(data), []
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        return None, [f"{path}: unreadable ({type(exc).__name__}: {exc}); not shown"]


def comparison_from_dict(data: dict[str, Any]) -> Comparison:
    """A Comparison back from its to_dict() document."""
    thresholds = Thresholds(**{k: float(v) for k, v in data.get("thresholds", {}).items()})
    changes = [
        Change(
            ChangeKind(str(c["kind"])),
            str(c["cell_id"]),
            str(c["label"]),
            c.get("before"),
            c.get("after"),
            str(c["detail"]),
        )
        for c in data.get("changes", [])
    ]
    environment = {str(name): dict(value) for name, value in data.get("environment", {}).items()}
    return Comparison(
        str(data["run_a"]), str(data["run_b"]), thresholds, changes, environment, int(data.get("cells_compared", 0))
    )


def comparison_document(comparison: Comparison) -> dict[str, Any]:
    """The comparison for report.json: strict JSON (a NaN loss is written as the string 'nan')."""
    return json_safe(comparison.to_dict())  # type: ignore[no-any-return]


def baseline_name(comparison: Comparison) -> str:
    """The run compared with, as people name it: its directory's name (the run id)."""
    return Path(comparison.run_a).name or comparison.run_a


def is_fixed_upstream(change: Change) -> bool:
    """A cell that now passes although an expect rule says it fails."""
    return bool(change.after == Status.XPASS.value)


@dataclass(frozen=True)
class ChangeGroup:
    """One kind of change, titled and styled for report.html."""

    kind: ChangeKind
    title: str
    css: str
    changes: list[Change]


def change_groups(comparison: Comparison) -> list[ChangeGroup]:
    """The non-empty kinds of change, regressions first (the order of the Markdown sections)."""
    return [
        ChangeGroup(kind, title, KIND_CLASS[kind], comparison.of_kind(kind))
        for kind, title in SECTIONS
        if comparison.of_kind(kind)
    ]


def xpass_cells(results: list[CellResult]) -> list[CellResult]:
    """Cells that passed although an expect rule says they fail: a fix may have happened upstream."""
    return [result for result in results if result.status is Status.XPASS]


def safe_link(link: Any) -> str | None:
    """An expect rule's link when it is a web address; anything else (javascript:, data:) is not a link."""
    if isinstance(link, str) and link.lower().startswith(("https://", "http://")):
        return link
    return None
