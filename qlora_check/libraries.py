"""The libraries whose combinations qlora-check tests, derived from the engine and quantizer specs.

One list for everything that records or shows versions (run.json, doctor, results, the evidence table), so
adding a quantizer family or an engine adds its library everywhere at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from qlora_check.engines import ENGINES
from qlora_check.quantizers import QUANTIZERS


@dataclass(frozen=True)
class Library:
    distribution: str
    module: str  # the importable name, checked without importing it
    hint: str


def tracked_libraries() -> list[Library]:
    """Engines' own requirements and recorded libraries, then each quantizer family's library."""
    found: dict[str, Library] = {}
    for _, engine in ENGINES.items():
        for requirement in engine.requires:
            found.setdefault(
                requirement.distribution, Library(requirement.distribution, requirement.module, requirement.hint)
            )
        for distribution in engine.libraries:
            module = distribution.replace("-", "_")
            found.setdefault(distribution, Library(distribution, module, f"pip install {distribution}"))
    for _, family in QUANTIZERS.items():
        found.setdefault(
            family.pip_name, Library(family.pip_name, family.import_name, f"pip install {family.pip_name}")
        )
    return list(found.values())


def tracked_distributions() -> tuple[str, ...]:
    """Distribution names to record versions of (qlora-check itself included)."""
    return (*(library.distribution for library in tracked_libraries()), "qlora-check")
