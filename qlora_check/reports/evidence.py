"""The evidence table: quantizer rows x backend columns, each 🟢 all pass / 🟡 some / 🔴 none / blank.

In the style of the Hugging Face quantization overview, but derived from this run's results, never
written by hand. Cells that did not run (skip, n/a, interrupted) are "not tested"; cells with a fault
injected (the `inject` axis) test the harness, not the stack, and are left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from qlora_check.reports.model import value_sort_key
from qlora_check.results.models import CellResult, Status

UNTESTED = frozenset({Status.SKIP, Status.NOT_APPLICABLE, Status.INTERRUPTED})
MARKS = {"all": "🟢", "some": "🟡", "none": "🔴"}
# The table is "verified on" the tested libraries the run recorded (the harness itself is not one of them).
HARNESS = "qlora-check"


@dataclass(frozen=True)
class EvidenceEntry:
    quantizer: str
    backend: str
    passed: int
    tested: int

    @property
    def mark(self) -> str:
        """'all', 'some' or 'none' of the tested cells passed."""
        if self.passed == self.tested:
            return "all"
        return "some" if self.passed else "none"

    @property
    def emoji(self) -> str:
        return MARKS[self.mark]


@dataclass(frozen=True)
class Evidence:
    quantizers: list[str]
    backends: list[str]
    entries: dict[tuple[str, str], EvidenceEntry]
    libraries: dict[str, str]
    date: str

    def entry(self, quantizer: str, backend: str) -> EvidenceEntry | None:
        return self.entries.get((quantizer, backend))

    def to_dict(self) -> dict[str, Any]:
        return {
            "quantizers": self.quantizers,
            "backends": self.backends,
            "entries": [
                {
                    "quantizer": entry.quantizer,
                    "backend": entry.backend,
                    "mark": entry.mark,
                    "passed": entry.passed,
                    "tested": entry.tested,
                }
                for entry in self.entries.values()
            ],
            "libraries": self.libraries,
            "date": self.date,
        }


def evidence(results: Sequence[CellResult], host: dict[str, Any], started_at: str | None) -> Evidence:
    """The evidence table of a run's results; rows and columns are every value seen, tested or not."""
    quantizers: set[str] = set()
    backends: set[str] = set()
    passed: dict[tuple[str, str], int] = {}
    tested: dict[tuple[str, str], int] = {}
    for result in results:
        if str(result.values.get("inject", "none")) != "none":
            continue
        quantizer, backend = str(result.values.get("quantizer")), str(result.values.get("backend"))
        quantizers.add(quantizer)
        backends.add(backend)
        if result.status in UNTESTED:
            continue
        tested[(quantizer, backend)] = tested.get((quantizer, backend), 0) + 1
        passed[(quantizer, backend)] = passed.get((quantizer, backend), 0) + (result.status is Status.PASS)
    entries = {key: EvidenceEntry(key[0], key[1], passed[key], count) for key, count in tested.items()}
    found = host.get("libraries")
    libraries: dict[str, Any] = found if isinstance(found, dict) else {}
    return Evidence(
        quantizers=sorted(quantizers, key=lambda value: value_sort_key("quantizer", value)),
        backends=sorted(backends, key=lambda value: value_sort_key("backend", value)),
        entries=dict(sorted(entries.items(), key=lambda item: _entry_order(*item[0]))),
        libraries={name: str(version) for name, version in libraries.items() if version and name != HARNESS},
        date=(started_at or "")[:10],
    )


def _entry_order(quantizer: str, backend: str) -> tuple[tuple[int, float, str], tuple[int, float, str]]:
    return value_sort_key("quantizer", quantizer), value_sort_key("backend", backend)
