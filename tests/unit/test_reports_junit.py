"""junit.xml, parsed back with junitparser as a CI system would read it."""

from __future__ import annotations

from pathlib import Path

from junitparser import Error, Failure, JUnitXml, Skipped

from qlora_check.reports import write_reports
from qlora_check.results.store import read_results
from tests.unit.reports_support import MIXED, SMOKE, copy_run


def _suite(run_dir: Path) -> JUnitXml:
    (path,) = write_reports(run_dir, ["junit"])
    return JUnitXml.fromfile(str(path))


def test_one_testcase_per_cell_with_the_right_counts(tmp_path: Path) -> None:
    run_dir = copy_run(MIXED, tmp_path)
    xml = _suite(run_dir)
    (suite,) = list(xml)
    assert suite.name == "report-fixture"
    assert (suite.tests, suite.failures, suite.errors, suite.skipped) == (19, 1, 6, 11)
    cases = list(suite)
    final = read_results(run_dir).final()
    assert sorted(case.name for case in cases) == sorted(result.label for result in final.values())
    outcomes = {case.name: case.result for case in cases}
    by_label = {result.label: result for result in final.values()}
    for name, result in outcomes.items():
        status = by_label[name].status.value
        kinds = {type(item) for item in result}
        expected = {
            "pass": set(),
            "fail": {Failure},
            "skip": {Skipped},
            "n/a": {Skipped},
        }.get(status, {Error})
        assert kinds == expected, (name, status)


def test_cases_carry_classname_time_reasons_and_log_tails(tmp_path: Path) -> None:
    (suite,) = list(_suite(copy_run(MIXED, tmp_path)))
    cases = {case.name: case for case in suite}
    raised = next(case for name, case in cases.items() if "inject=raise" in name)
    assert raised.classname == "cpu.none"
    (error,) = raised.result
    assert error.message == "error: RuntimeError: injected fault: raise"
    assert error.type == "builtins.RuntimeError"
    assert "--- log tail (logs/" in error.text and "Traceback" in error.text
    timeout = next(case for name, case in cases.items() if "inject=hang" in name)
    assert timeout.time >= 25
    skipped = next(case for case in cases.values() if case.classname.startswith("cuda."))
    (skip,) = skipped.result
    assert "no CUDA device" in skip.message
    failed = next(case for case in cases.values() if case.result and isinstance(case.result[0], Failure))
    assert "learned" in failed.result[0].message and "relative_drop" not in failed.result[0].message
    assert "check learned: mean loss went from" in failed.result[0].text


def test_terminal_colours_and_control_characters_in_logs_keep_the_xml_valid(tmp_path: Path) -> None:
    run_dir = copy_run(MIXED, tmp_path)
    raised = next(r for r in read_results(run_dir).results if r.values["inject"] == "raise")
    with open(run_dir / "logs" / f"{raised.cell_id}.log", "a", encoding="utf-8") as log:
        log.write("\x1b[31mred text\x1b[0m and a bell\x07 and a NUL\x00 <&> done\n")
    (suite,) = list(_suite(run_dir))
    case = next(case for case in suite if "inject=raise" in case.name)
    assert "red text and a bell and a NUL <&> done" in case.result[0].text


def test_an_all_pass_run_has_no_failures(tmp_path: Path) -> None:
    (suite,) = list(_suite(copy_run(SMOKE, tmp_path)))
    assert (suite.tests, suite.failures, suite.errors, suite.skipped) == (8, 0, 0, 0)
    assert all(case.is_passed for case in suite)
    assert suite.time > 0
