"""The estimate as data: every figure, the method it came from, and the assumptions it rests on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from qlora_check.estimate.request import FIT_BUDGETS_GB, GIB

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Part:
    """One component of the memory, at the model's full depth."""

    name: str
    bytes: int
    per_layer: int
    method: str
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "bytes": self.bytes, "per_layer": self.per_layer, "method": self.method,
                "note": self.note}


@dataclass(frozen=True)
class EstimateResult:
    """Real-size memory for one setup; ``peak_bytes`` is the figure to compare with a GPU's memory."""

    model: str
    config_source: str
    layers: int
    request: dict[str, Any]
    peak_bytes: int
    peak_phase: str
    parts: tuple[Part, ...]
    phase_peaks: dict[str, int]
    assumptions: tuple[str, ...]
    measured: dict[str, Any]
    quantization: dict[str, Any]
    seconds: float
    budget: dict[str, Any] | None = None
    versions: dict[str, str] = field(default_factory=dict)

    def fits(self) -> dict[str, bool]:
        """Whether the peak fits in common GPU sizes (GB meaning GiB, as GPUs are sold and reported)."""
        return {f"{size}GB": self.peak_bytes <= size * GIB for size in FIT_BUDGETS_GB}

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "model": self.model,
            "config_source": self.config_source,
            "layers": self.layers,
            "request": dict(self.request),
            "peak_bytes": self.peak_bytes,
            "peak_gib": round(self.peak_bytes / GIB, 3),
            "peak_phase": self.peak_phase,
            "parts": {part.name: part.to_dict() for part in self.parts},
            "phase_peaks": dict(self.phase_peaks),
            "fits": self.fits(),
            "budget": self.budget,
            "assumptions": list(self.assumptions),
            "measured": self.measured,
            "quantization": self.quantization,
            "seconds": round(self.seconds, 2),
            "versions": dict(self.versions),
        }
