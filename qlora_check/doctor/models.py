"""The doctor's records: library and backend status, probe specs and probe results (all JSON-able)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from qlora_check.engines import ENGINES
from qlora_check.quantizers import QUANTIZERS
from qlora_check.quantizers import family_of as quantizer_family

SCHEMA_VERSION = 1
# Bump when the probes change what they test: cached verdicts of older probes are then ignored.
# 2: the torch probe quantizes through the family's own load path (the cells' code), not a copy of it.
PROBE_VERSION = 2

PLAIN = "none"


def families_for(engine: str) -> tuple[str, ...]:
    """The probe families of an engine: plain, then every quantizer family implemented for it."""
    return (PLAIN, *(spec.family for _, spec in QUANTIZERS.items() if engine in spec.engines))


def all_families() -> tuple[str, ...]:
    """Every probe family of every engine, in order (the doctor's probe grid columns)."""
    return tuple(dict.fromkeys(family for name in ENGINES.names() for family in families_for(name)))


def family_variant(family: str) -> str:
    """The axis value a family's probe really runs (the family verdict stands for all its variants)."""
    return PLAIN if family == PLAIN else QUANTIZERS.get(family).probe_value


def family_library(family: str) -> tuple[str, str] | None:
    """(importable module, distribution) of the library a family's probe needs beyond the engine's own."""
    if family == PLAIN:
        return None
    spec = QUANTIZERS.get(family)
    return spec.import_name, spec.pip_name


def family_title(family: str) -> str:
    return "plain" if family == PLAIN else QUANTIZERS.get(family).title


def family_of(quantizer: str) -> str:
    """The probe family a quantizer axis value belongs to."""
    spec = quantizer_family(quantizer)
    return spec.family if spec is not None else PLAIN


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
