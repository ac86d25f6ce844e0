"""Isolation pieces on real processes: log capping while a child writes, signal names, run dir names."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from qlora_check.execution.job import CellJob
from qlora_check.execution.launchers.process import cap_log, signal_name, wait_capping_log
from qlora_check.matrix import Cell
from qlora_check.results.store import default_run_dir


def test_a_chatty_child_log_is_capped_keeping_the_tail(tmp_path: Path) -> None:
    log = tmp_path / "cell.log"
    job = CellJob(cell=Cell.from_values({}), work_dir=tmp_path, log_path=log, timeout_s=60, log_max_bytes=64 * 1024)
    script = "import sys\nfor i in range(60000): sys.stdout.write(f'line {i}\\n')\nsys.stdout.write('THE END\\n')"
    with open(log, "ab") as handle:
        process = subprocess.Popen([sys.executable, "-c", script], stdout=handle)
        assert wait_capping_log(process, job) is False
    text = log.read_text()
    assert log.stat().st_size <= 64 * 1024
    assert text.startswith("[qlora-check: log cut to its last") and text.rstrip().endswith("THE END")


def test_cap_log_leaves_small_logs_alone(tmp_path: Path) -> None:
    log = tmp_path / "small.log"
    log.write_text("hello\n")
    assert cap_log(log, 1024) is False and log.read_text() == "hello\n"


def test_a_hanging_child_is_killed_at_its_timeout(tmp_path: Path) -> None:
    job = CellJob(cell=Cell.from_values({}), work_dir=tmp_path, log_path=tmp_path / "x.log", timeout_s=1.0)
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    assert wait_capping_log(process, job) is True
    assert process.returncode is not None and process.returncode < 0


def test_signal_names() -> None:
    assert signal_name(11) == "SIGSEGV" and signal_name(9) == "SIGKILL" and signal_name(250) == "signal 250"


def test_run_directory_names_cannot_escape_the_root(tmp_path: Path) -> None:
    for hostname in ("../../etc", "/abs/path", "a/../../b", "..", "", "ho st\n"):
        run_dir = default_run_dir(tmp_path, hostname)
        assert run_dir.resolve().parent == (tmp_path / "runs").resolve(), hostname
        assert "/" not in run_dir.name and ".." not in run_dir.name.split("-", 1)[1]
