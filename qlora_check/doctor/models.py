"""The doctor's records: library and backend status, probe specs and probe results (all JSON-able)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from qlora_check.matrix.axes import BNB_QUANTIZERS, HQQ_QUANTIZERS, MLX_QUANTIZERS, QUANTO_QUANTIZERS

SCHEMA_VERSION = 1
# Bump when the probes change what they test: cached verdicts of older probes are then ignored.
PROBE_VERSION = 1

PLAIN = "none"
TORCH_FAMILIES = (PLAIN, "bnb", "hqq", "quanto")
MLX_FAMILIES = (PLAIN, "mlx")
# The variant each family's probe really runs (the family verdict stands for all its variants).
FAMILY_VARIANT = {PLAIN: "none", "bnb": "bnb-nf4", "hqq": "hqq-4bit", "quanto": "quanto-int4", "mlx": "mlx-4bit"}
# family -> (importable module, distribution) of the library the probe needs beyond the engine's own.
FAMILY_LIBRARY = {
    "bnb": ("bitsandbytes", "bitsandbytes"),
    "hqq": ("hqq", "hqq"),
    "quanto": ("optimum.quanto", "optimum-quanto"),
    "mlx": ("mlx", "mlx"),
}


def family_of(quantizer: str) -> str:
    """The probe family a quantizer axis value belongs to."""
    for family, names in (
        ("bnb", BNB_QUANTIZERS),
        ("hqq", HQQ_QUANTIZERS),
        ("quanto", QUANTO_QUANTIZERS),
        ("mlx", MLX_QUANTIZERS),
    ):
        if quantizer in names:
            return family
    return PLAIN


class ProbeStatus:
    """How a probe ended. `pass` proves the family works; the failures below prove it does not."""

    PASS = "pass"
    FAIL = "fail"  # ran, but a numerical check failed (non-finite or zero gradients, garbage output)
    ERROR = "error"  # the library raised
    MISSING = "missing"  # the library could not be imported
    CRASH = "crash"  # killed by a signal
    TIMEOUT = "timeout"  # not a verdict: a loaded machine can be slow
    VERDICTS = (FAIL, ERROR, MISSING, CRASH)


@dataclass(frozen=True)
class LibraryStatus:
    distribution: str
    module: str
    version: str | None
    hint: str

    @property
    def installed(self) -> bool:
        return self.version is not None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "installed": self.installed}


@dataclass(frozen=True)
class BackendStatus:
    """Whether a backend is present; ``reason`` says why not; ``details`` are what detection saw."""

    name: str
    available: bool
    reason: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ProbeSpec:
    backend: str
    family: str

    @property
    def key(self) -> str:
        return f"{self.backend}/{self.family}"


@dataclass(frozen=True)
class ProbeResult:
    backend: str
    family: str
    status: str
    reason: str = ""
    error_type: str = ""
    variant: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    duration_s: float = 0.0
    probed_at: str = ""
    cached: bool = False

    @property
    def key(self) -> str:
        return f"{self.backend}/{self.family}"

    @property
    def ok(self) -> bool:
        return self.status == ProbeStatus.PASS

    @property
    def is_verdict_against(self) -> bool:
        """Whether this result proves the family cannot work here (timeouts prove nothing)."""
        return self.status in ProbeStatus.VERDICTS

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProbeResult:
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        return cls(**known)
