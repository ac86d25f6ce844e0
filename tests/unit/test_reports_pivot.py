"""The pivot model, the evidence table and the run model, on recorded real runs."""

from __future__ import annotations

from qlora_check.reports.evidence import evidence
from qlora_check.reports.model import format_duration, load_report
from qlora_check.reports.pivot import pivot, worst_status
from qlora_check.results.models import SEVERITY, Status
from tests.unit.reports_support import FIXTURES, MIXED, SMOKE


def test_worst_status_follows_severity_and_keeps_skip_and_na_below_pass() -> None:
    assert worst_status([Status.PASS, Status.CRASH, Status.FAIL]) is Status.CRASH
    assert worst_status([Status.PASS, Status.SKIP, Status.NOT_APPLICABLE]) is Status.PASS
    assert worst_status([Status.SKIP, Status.NOT_APPLICABLE]) is Status.SKIP
    assert worst_status([]) is None
    assert set(SEVERITY) == set(Status)


def test_every_cell_lands_in_exactly_one_pivot_entry_with_its_worst_status() -> None:
    report = load_report(FIXTURES / MIXED)
    table = pivot(report.results, ["backend", "quantizer"], ["train_type"])
    ids = [cell_id for entry in table.entries.values() for cell_id in entry.cell_ids]
    assert sorted(ids) == sorted(result.cell_id for result in report.results)
    by_id = {result.cell_id: result for result in report.results}
    for (row, column), entry in table.entries.items():
        members = [by_id[cell_id] for cell_id in entry.cell_ids]
        assert all([r.values["backend"], r.values["quantizer"]] == list(row) for r in members)
        assert all(r.values["train_type"] == column[0] for r in members)
        assert entry.worst is worst_status(r.status for r in members)
        assert sum(entry.counts.values()) == len(members)
    # the cpu/none/lora square holds a pass, a fail, an error and a timeout: the timeout colours it
    lora = table.entries[(("cpu", "none"), ("lora",))]
    assert lora.worst is Status.TIMEOUT
    assert {Status.PASS, Status.FAIL, Status.ERROR, Status.TIMEOUT} <= set(lora.counts)


def test_pivot_keys_follow_the_axis_vocabulary_order() -> None:
    table = pivot(load_report(FIXTURES / MIXED).results, ["backend", "quantizer"], ["train_type"])
    assert table.row_keys == [("cpu", "none"), ("cpu", "bnb-nf4"), ("cuda", "none"), ("cuda", "bnb-nf4")]
    assert [key[0] for key in table.column_keys] == ["full", "lora", "custom_lora", "dora", "qlora"]
    document = table.to_dict()
    assert sum(len(entry["cell_ids"]) for entry in document["entries"]) == 19


def test_run_model_reads_final_results_counts_and_varying_axes() -> None:
    report = load_report(FIXTURES / MIXED)
    assert len(report.results) == 19
    counts = {status: n for status, n in report.counts.items() if n}
    assert counts == {"pass": 1, "fail": 1, "error": 4, "crash": 1, "timeout": 1, "skip": 4, "n/a": 7}
    assert report.axes[:6] == ["backend", "quantizer", "train_type", "precision", "optimizer", "scheduler"]
    assert {"model", "lr", "inject"} <= set(report.axes)
    assert "steps" not in report.axes  # the same for every cell
    assert report.matrix_name == "report-fixture"
    assert report.duration_s is not None and report.duration_s > 0


def test_log_tail_is_read_for_failing_cells_only_and_logs_are_found_in_a_moved_run() -> None:
    report = load_report(FIXTURES / MIXED)
    raised = next(r for r in report.results if r.values["inject"] == "raise")
    passed = next(r for r in report.results if r.status is Status.PASS)
    assert raised.log_path is not None and not raised.log_path.startswith(str(FIXTURES))  # recorded at run time
    assert report.log_link(raised) == f"logs/{raised.cell_id}.log"
    assert "RuntimeError: injected fault: raise" in report.log_tail(raised)
    assert report.log_tail(passed) == ""
    assert report.log_link(passed) == f"logs/{passed.cell_id}.log"


def test_evidence_marks_all_some_none_and_leaves_untested_and_injected_cells_out() -> None:
    mixed = load_report(FIXTURES / MIXED)
    table = evidence(mixed.results, mixed.host, mixed.run["started_at"])
    assert table.quantizers == ["none", "bnb-nf4"]
    assert table.backends == ["cpu", "cuda"]
    none_cpu = table.entry("none", "cpu")
    # pass, learned-check fail, lr=0 error, bad model error; the raise/segfault/hang cells are harness tests
    assert none_cpu is not None and (none_cpu.passed, none_cpu.tested, none_cpu.mark) == (1, 4, "some")
    nf4_cpu = table.entry("bnb-nf4", "cpu")
    assert nf4_cpu is not None and (nf4_cpu.mark, nf4_cpu.emoji) == ("none", "🔴")
    assert table.entry("none", "cuda") is None  # only skips there: not tested
    assert table.date == "2026-11-24"
    assert table.libraries["torch"].startswith("2.")
    smoke = load_report(FIXTURES / SMOKE)
    all_pass = evidence(smoke.results, smoke.host, smoke.run["started_at"]).entry("none", "cpu")
    assert all_pass is not None and (all_pass.mark, all_pass.emoji, all_pass.tested) == ("all", "🟢", 8)


def test_format_duration() -> None:
    assert format_duration(None) == "unknown"
    assert format_duration(12.34) == "12.3 s"
    assert format_duration(185) == "3 min 05 s"
    assert format_duration(3725) == "1 h 02 min"
