"""report.json: validated against the JSON Schema shipped in the package, and complete."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from qlora_check.reports import write_reports
from qlora_check.reports.json_report import REPORT_SCHEMA_VERSION, report_schema
from qlora_check.results.models import Status
from qlora_check.results.store import read_results
from tests.conftest import REPO
from tests.unit.reports_support import MIXED, SMOKE, copy_run


def _report(run_dir: Path) -> dict[str, Any]:
    (path,) = write_reports(run_dir, ["json"])
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


def test_the_schema_is_a_valid_schema_and_ships_as_package_data() -> None:
    schema = report_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema == json.loads((REPO / "qlora_check" / "schemas" / "report.schema.json").read_text())


@pytest.mark.parametrize("name", [MIXED, SMOKE])
def test_report_json_validates_and_holds_every_cell(tmp_path: Path, name: str) -> None:
    run_dir = copy_run(name, tmp_path)
    document = _report(run_dir)
    jsonschema.validate(document, report_schema(), cls=jsonschema.Draft202012Validator)
    assert document["schema_version"] == REPORT_SCHEMA_VERSION
    final = read_results(run_dir).final()
    assert sorted(cell["cell_id"] for cell in document["cells"]) == sorted(final)
    assert sum(document["counts"].values()) == len(final)
    for cell in document["cells"]:
        assert cell["status"] == final[cell["cell_id"]].status.value
        if cell["log_file"] is not None:
            assert (run_dir / cell["log_file"]).is_file()
        if "log_tail" in cell:  # failing cells with a non-empty log only
            assert Status(cell["status"]).is_failure and cell["log_tail"]
    assert document["run"]["run_id"] == json.loads((run_dir / "run.json").read_text())["run_id"]
    (default_pivot,) = document["pivots"]
    assert default_pivot["rows"] == ["backend", "quantizer"] and default_pivot["columns"] == ["train_type"]


def test_mixed_report_carries_checks_curves_errors_and_log_tails(tmp_path: Path) -> None:
    document = _report(copy_run(MIXED, tmp_path))
    by_status = {cell["status"]: cell for cell in document["cells"]}
    failed = by_status["fail"]
    assert [check["name"] for check in failed["checks"]] == ["finite", "learned"]
    assert len(failed["losses"]) == 12 and len(failed["lrs"]) == 12
    assert failed["memory"]["phases_mb"]["train"] > 0
    assert by_status["crash"]["error"]["type"] == "SIGSEGV"
    raised = next(cell for cell in document["cells"] if cell["values"]["inject"] == "raise")
    assert "injected fault: raise" in raised["log_tail"]
    assert {entry["mark"] for entry in document["evidence"]["entries"]} == {"some", "none"}


def test_the_schema_rejects_what_readers_could_not_use(tmp_path: Path) -> None:
    document = _report(copy_run(MIXED, tmp_path))
    schema = report_schema()
    broken = []
    for mutate in (
        lambda d: d.pop("cells"),
        lambda d: d["cells"][0].update(status="passed"),
        lambda d: d.update(schema_version=2),
        lambda d: d["cells"][0]["checks"].append({"name": "x"}),
        lambda d: d["evidence"]["entries"][0].update(mark="green"),
        lambda d: d["cells"][0].update(losses=["NaN?"]),
    ):
        candidate = copy.deepcopy(document)
        mutate(candidate)
        broken.append(not jsonschema.Draft202012Validator(schema).is_valid(candidate))
    assert all(broken)


def test_non_finite_losses_are_written_as_strings_the_schema_accepts(tmp_path: Path) -> None:
    run_dir = copy_run(SMOKE, tmp_path)
    lines = (run_dir / "results.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    first["losses"][-1] = "nan"
    first["losses"][-2] = "inf"
    (run_dir / "results.jsonl").write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n")
    document = _report(run_dir)
    jsonschema.validate(document, report_schema(), cls=jsonschema.Draft202012Validator)
    cell = next(c for c in document["cells"] if c["cell_id"] == first["cell_id"])
    assert cell["losses"][-2:] == ["inf", "nan"]
