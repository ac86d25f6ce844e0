"""The matrix file format (version 1) as pydantic models; also the source of `qlora-check schema`."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from qlora_check.matrix.axes import AXES, axis_named
from qlora_check.matrix.model import Settings

MATRIX_VERSION = 1
DEFAULTS = Settings()  # the one place settings defaults live: matrix/model.py
MAX_NWISE = 6


def _normalise_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """One include/exclude/match entry: known axes, one valid value each."""
    normalised: dict[str, Any] = {}
    for name, value in entry.items():
        axis = axis_named(str(name))
        if isinstance(value, (list, dict)) or value is None:
            raise ValueError(f"{name} takes a single value here, not {value!r}")
        normalised[axis.name] = axis.normalise(value)
    return normalised


class SettingsModel(BaseModel):
    """Run-level settings."""

    model_config = ConfigDict(extra="forbid")

    timeout: float = Field(DEFAULTS.timeout, gt=0, description="seconds a cell may run before it is killed")
    jobs: int | None = Field(DEFAULTS.jobs, ge=1, description="cells run in parallel (default: from the core count)")
    max_memory_mb: int | None = Field(
        DEFAULTS.max_memory_mb, ge=1, description="memory cap per cell; exceeding it is oom"
    )
    retries: int = Field(
        DEFAULTS.retries, ge=0, le=10, description="re-runs of cells that crashed, timed out or ran out of memory"
    )
    log_max_bytes: int = Field(DEFAULTS.log_max_bytes, ge=1024, description="per-cell log cap; the tail is kept")
    learned_margin: float = Field(
        DEFAULTS.learned_margin,
        gt=0,
        lt=1,
        description="the 'learned' check needs the late loss this fraction below the early loss",
    )


class ExpectModel(BaseModel):
    """An expectation: cells matching `match` are expected to end with `status`."""

    model_config = ConfigDict(extra="forbid")

    match: dict[str, Any] = Field(..., min_length=1)
    status: Literal["fail", "error", "crash", "oom", "timeout"]
    reason: str = Field(..., min_length=1)
    link: str | None = None
    strict: bool = False

    @field_validator("match")
    @classmethod
    def _known_axes(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _normalise_entry(value)


class NwiseModel(BaseModel):
    """`strategy: {nwise: N}`: every N-tuple of values of any N axes, where it can run."""

    model_config = ConfigDict(extra="forbid")

    nwise: int = Field(..., ge=2, le=MAX_NWISE, description="tuple size (2 is pairwise)")


class MatrixModel(BaseModel):
    """A matrix file. Axes take a value or a list of values; see `docs/matrix.md`."""

    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = Field(..., description="matrix format version")
    name: str = Field(..., min_length=1, max_length=200)
    description: str = ""
    strategy: Literal["product", "pairwise"] | NwiseModel = Field(
        "product",
        description="product: every combination of the axes; pairwise or {nwise: N}: every pair (N-tuple) of "
        "values of any two (N) axes in at least one runnable cell",
    )
    axes: dict[str, Any] = Field(default_factory=dict)
    exclude: list[dict[str, Any]] = Field(default_factory=list)
    include: list[dict[str, Any]] = Field(default_factory=list)
    expect: list[ExpectModel] = Field(default_factory=list)
    settings: SettingsModel = Field(default_factory=lambda: SettingsModel.model_validate({}))
    runners: dict[str, Any] = Field(
        default_factory=dict, description="trainer commands run as cells (see docs/runners.md); checked by the loader"
    )

    @field_validator("strategy", mode="before")
    @classmethod
    def _known_strategy(cls, value: Any) -> Any:
        nwise = value.get("nwise") if isinstance(value, dict) and set(value) == {"nwise"} else None
        if value in ("product", "pairwise") or (
            isinstance(nwise, int) and not isinstance(nwise, bool) and 2 <= nwise <= MAX_NWISE
        ):
            return value
        raise ValueError(f"takes product, pairwise or {{nwise: N}} with N from 2 to {MAX_NWISE}, not {value!r}")

    @field_validator("axes")
    @classmethod
    def _valid_axes(cls, value: dict[str, Any]) -> dict[str, list[Any]]:
        axes: dict[str, list[Any]] = {}
        for name, raw in value.items():
            axis = axis_named(str(name))
            if isinstance(raw, dict):
                raise ValueError(f"{name} takes a value or a list of values, not a mapping")
            values = raw if isinstance(raw, list) else [raw]
            if not values:
                raise ValueError(f"{name} has an empty list of values")
            normalised = [axis.normalise(item) for item in values]
            if len(set(map(repr, normalised))) != len(normalised):
                raise ValueError(f"{name} lists a value twice: {values!r}")
            axes[axis.name] = normalised
        return axes

    @field_validator("exclude", "include")
    @classmethod
    def _valid_entries(cls, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        entries = [_normalise_entry(entry) for entry in value]
        if any(not entry for entry in entries):
            raise ValueError("an entry is empty")
        return entries


def matrix_json_schema() -> dict[str, Any]:
    """JSON Schema of the matrix format, with each axis' allowed values spelled out."""
    schema = MatrixModel.model_json_schema()
    axis_properties: dict[str, Any] = {}
    for axis in AXES.values():
        if axis.choices is not None:
            one: dict[str, Any] = {"type": "string", "enum": list(axis.choices)}
        elif axis.kind is bool:
            one = {"type": "boolean"}
        elif axis.kind is int:
            one = {"type": "integer"}
        elif axis.kind is float and axis.keywords:
            one = {"anyOf": [{"type": "number"}, {"type": "string", "enum": list(axis.keywords)}]}
        elif axis.kind is float:
            one = {"type": "number"}
        else:
            one = {"type": "string"}
        axis_properties[axis.name] = {
            "description": f"{axis.doc} (default: {axis.default!r})",
            "anyOf": [one, {"type": "array", "items": one, "minItems": 1}],
        }
    schema["properties"]["axes"] = {
        "type": "object",
        "description": "axis name -> value or list of values; unset axes take their defaults",
        "properties": axis_properties,
        "additionalProperties": False,
    }
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "qlora-check matrix (version 1)"
    return schema
