"""Running a trainer: argv without a shell, limits ending the whole tree, peak memory over the tree."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import psutil
import pytest

from qlora_check.runners.command_env import trainer_env
from qlora_check.runners.trainer_process import run_trainer


def test_argv_reaches_the_child_as_written(tmp_path: Path) -> None:
    hostile = ";rm -rf x"
    script = "import sys, json; print(json.dumps(sys.argv[1:]))"
    outcome = run_trainer(
        [sys.executable, "-c", script, hostile, "$(id)"], env=dict(os.environ), cwd=tmp_path,
        output=tmp_path / "out.log", timeout_s=60,
    )  # fmt: skip
    assert outcome.returncode == 0
    assert (tmp_path / "out.log").read_text().strip() == '[";rm -rf x", "$(id)"]'
    assert not (tmp_path / "x").exists()


def test_a_missing_command_does_not_start(tmp_path: Path) -> None:
    outcome = run_trainer(
        ["qlora-check-no-such-trainer", "--x"], env=dict(os.environ), cwd=tmp_path, output=tmp_path / "o", timeout_s=5
    )
    assert outcome.returncode is None and "qlora-check-no-such-trainer" in (outcome.not_started or "")


def test_the_limit_ends_the_trainer_and_its_children(tmp_path: Path) -> None:
    script = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    outcome = run_trainer(
        [sys.executable, "-c", script], env=dict(os.environ), cwd=tmp_path, output=tmp_path / "o", timeout_s=3
    )
    assert outcome.timed_out
    grandchild = int((tmp_path / "o").read_text().split()[0])
    assert not psutil.pid_exists(grandchild) or psutil.Process(grandchild).status() == psutil.STATUS_ZOMBIE


def test_peak_memory_counts_the_children(tmp_path: Path) -> None:
    # The parent stays small; a child holds 200 MB for a second: only a tree measure sees it.
    child = "b = bytearray(200 * 2**20); import time; time.sleep(1.5)"
    script = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {child!r}], check=True)"
    outcome = run_trainer(
        [sys.executable, "-c", script], env=dict(os.environ), cwd=tmp_path, output=tmp_path / "o", timeout_s=60
    )
    assert outcome.returncode == 0 and outcome.samples > 3
    assert outcome.peak_rss_mb > 200


def test_a_signal_shows_as_a_negative_return_code(tmp_path: Path) -> None:
    script = "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"
    outcome = run_trainer(
        [sys.executable, "-c", script], env=dict(os.environ), cwd=tmp_path, output=tmp_path / "o", timeout_s=60
    )
    assert outcome.returncode == -signal.SIGKILL


def test_environment_is_an_allow_list_plus_threads_and_the_runner_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SECRET_TOKEN_OF_THE_PARENT", "s3cret")
    monkeypatch.setenv("HOME", "/home/someone")
    env = trainer_env(threads=2, metrics_path=tmp_path / "m.jsonl", added={"HF_TOKEN": "abc"}, python=None)
    assert "SECRET_TOKEN_OF_THE_PARENT" not in env and env["HOME"] == "/home/someone"
    assert env["OMP_NUM_THREADS"] == env["MKL_NUM_THREADS"] == "2"
    assert env["HF_TOKEN"] == "abc" and env["QLORA_CHECK_METRICS"] == str(tmp_path / "m.jsonl")
    assert env["PATH"].split(os.pathsep)[0] == str(Path(sys.executable).parent)
