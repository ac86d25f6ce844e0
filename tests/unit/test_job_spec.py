"""The parent -> worker job spec: a round trip keeps every field; a newer or broken spec is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qlora_check.execution.job import JOB_SCHEMA_VERSION, CellJob, JobSpec, JobSpecError, read_job_spec, write_job_spec
from qlora_check.execution.resources import CUDA, Demand, Grant
from qlora_check.matrix.cell import Cell


def test_a_job_spec_round_trips_through_its_file(tmp_path: Path) -> None:
    cell = Cell.from_values({"backend": "cuda", "steps": 7})
    job = CellJob(cell, tmp_path / "work", tmp_path / "cell.log", 60.0, demand=Demand(device_kind=CUDA, devices=1))
    job = job.with_grant(Grant(2, CUDA, ("3",)))
    spec_path, result_path = write_job_spec(job)
    spec = read_job_spec(spec_path)
    assert spec == JobSpec(
        values=cell.values,
        work_dir=str(tmp_path / "work"),
        result_path=str(result_path),
        threads=2,
        devices=("3",),
        timeout_s=60.0,  # a multi-rank cell ends its ranks before the parent's limit
        schema_version=JOB_SCHEMA_VERSION,
    )
    assert job.extra_env["CUDA_VISIBLE_DEVICES"] == "3"
    assert Cell.from_values(spec.values).typed.steps == 7


def test_a_newer_spec_is_refused_not_guessed_at(tmp_path: Path) -> None:
    path = tmp_path / "spec.json"
    data = JobSpec(values={}, work_dir="w", result_path="r").to_dict()
    path.write_text(json.dumps({**data, "schema_version": JOB_SCHEMA_VERSION + 1}))
    with pytest.raises(JobSpecError, match="newer than this worker reads"):
        read_job_spec(path)
    path.write_text(json.dumps({"schema_version": 1, "values": {}}))
    with pytest.raises(JobSpecError, match="incomplete"):
        read_job_spec(path)


def test_typed_values_have_one_field_per_axis() -> None:
    from dataclasses import fields

    from qlora_check.matrix.axes import AXES
    from qlora_check.matrix.values import CellValues

    assert [f.name for f in fields(CellValues)] == list(AXES)
    typed = Cell.from_values({"lr": 0.5, "gradient_checkpointing": True}).typed
    assert typed.lr == 0.5 and typed.gradient_checkpointing is True and typed.steps == 40
