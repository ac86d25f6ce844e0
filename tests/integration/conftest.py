"""Helpers for integration tests: run one real cell in this process, the way the worker does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from qlora_check.execution.job import JobSpec
from qlora_check.execution.worker import run_spec
from qlora_check.matrix.axes import normalise_values


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread() -> None:
    """In-process cells run one torch thread, as cell workers do (xdist runs two test processes on 2 cores)."""
    import torch

    torch.set_num_threads(1)


TEST_STEPS = 20  # enough for every working setup here to drop its loss by far more than 20% (measured)


def run_cell(work_dir: Path, **values: Any) -> dict[str, Any]:
    """A real cell through the worker's own entry point (engine, checks, status), in-process."""
    spec = JobSpec(
        values=normalise_values({"steps": TEST_STEPS, **values}),
        work_dir=str(work_dir),
        result_path=str(work_dir / "result.json"),
        learned_margin=0.2,
    )
    return run_spec(spec)


def checks_by_name(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {check["name"]: check for check in result["checks"]}


def assert_passed(result: dict[str, Any], *required: str) -> dict[str, dict[str, Any]]:
    """The cell passed, and ``required`` checks were among those that held."""
    assert result["status"] == "pass", (result["reason"], result.get("error"))
    found = checks_by_name(result)
    missing = set(required) - set(found)
    assert not missing, f"checks not recorded: {missing}"
    assert all(check["passed"] for check in found.values())
    return found
