"""A cell attempt as the parent holds it (`CellJob`) and as its worker reads it (`JobSpec`).

The job spec is the parent -> worker contract: typed, versioned (``schema_version``), built in one place
(`job_spec`) and read in one place (the worker). A worker refuses a spec newer than it understands rather
than guessing at it.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from qlora_check.errors import QloraCheckError
from qlora_check.execution.resources import CUDA, Demand, Grant
from qlora_check.fileio import write_atomically
from qlora_check.matrix.cell import Cell

JOB_SCHEMA_VERSION = 1
SPEC_FILE, RESULT_FILE = "spec.json", "result.json"


class JobSpecError(QloraCheckError):
    """A job spec the worker cannot read: missing fields, or written by a newer qlora-check."""


@dataclass(frozen=True)
class JobSpec:
    """Everything a worker needs to run one cell attempt."""

    values: dict[str, Any]
    work_dir: str
    result_path: str
    learned_margin: float = 0.2
    max_memory_mb: int | None = None
    attempt: int = 1
    runner: str = "builtin"
    runner_definition: dict[str, Any] | None = None  # a command runner's `RunnerDefinition.to_dict()`
    threads: int = 1
    devices: tuple[str, ...] = ()
    schema_version: int = JOB_SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["devices"] = list(self.devices)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JobSpec:
        version = data.get("schema_version")
        if not isinstance(version, int) or isinstance(version, bool):
            raise JobSpecError("job spec without a valid schema_version")
        if version > JOB_SCHEMA_VERSION:
            raise JobSpecError(
                f"job spec schema_version {version} is newer than this worker reads (up to {JOB_SCHEMA_VERSION})",
                tip="the parent and the worker come from different qlora-check versions",
            )
        known = set(cls.__dataclass_fields__)
        try:
            kwargs = {key: value for key, value in data.items() if key in known}
            kwargs["devices"] = tuple(kwargs.get("devices", ()))
            return cls(**kwargs)
        except TypeError as exc:
            raise JobSpecError(f"job spec is incomplete: {exc}") from None


@dataclass(frozen=True)
class CellJob:
    """One attempt of one cell: where its files go, what it needs, what it was granted, what limits apply."""

    cell: Cell
    work_dir: Path
    log_path: Path
    timeout_s: float
    demand: Demand = field(default_factory=Demand)
    grant: Grant | None = None
    learned_margin: float = 0.2
    max_memory_mb: int | None = None
    attempt: int = 1
    log_max_bytes: int = 2_000_000
    extra_env: dict[str, str] = field(default_factory=dict)
    runner: str = "builtin"
    runner_definition: dict[str, Any] | None = None

    @property
    def threads(self) -> int:
        """The compute threads the cell runs with: what it was granted, else what it asks for."""
        return self.grant.threads if self.grant is not None else self.demand.threads

    def with_grant(self, grant: Grant) -> CellJob:
        """The job as it must run under ``grant``: its threads, and its CUDA devices pinned."""
        env = dict(self.extra_env)
        if grant.device_kind == CUDA:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(grant.devices)
        return replace(self, grant=grant, extra_env=env)


def job_spec(job: CellJob, result_path: Path) -> JobSpec:
    """The worker's view of a job (the only place one is built)."""
    return JobSpec(
        values=job.cell.values,
        work_dir=str(job.work_dir),
        result_path=str(result_path),
        learned_margin=job.learned_margin,
        max_memory_mb=job.max_memory_mb,
        attempt=job.attempt,
        runner=job.runner,
        runner_definition=job.runner_definition,
        threads=job.threads,
        devices=job.grant.devices if job.grant is not None else (),
    )


def write_job_spec(job: CellJob) -> tuple[Path, Path]:
    """Prepare the cell's directories and spec file (shared by every launcher); return spec and result paths."""
    job.work_dir.mkdir(parents=True, exist_ok=True)
    job.log_path.parent.mkdir(parents=True, exist_ok=True)
    spec_path, result_path = job.work_dir / SPEC_FILE, job.work_dir / RESULT_FILE
    with contextlib.suppress(FileNotFoundError):
        result_path.unlink()
    write_atomically(spec_path, json.dumps(job_spec(job, result_path).to_dict()))
    return spec_path, result_path


def read_job_spec(path: Path) -> JobSpec:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise JobSpecError(f"{path}: unreadable job spec: {exc}") from None
    if not isinstance(data, dict):
        raise JobSpecError(f"{path}: a job spec is a JSON object")
    return JobSpec.from_dict(data)
