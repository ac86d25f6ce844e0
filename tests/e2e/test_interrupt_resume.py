"""Ctrl-C / SIGTERM on a real run, then --resume: nothing lost, exactly one final result per cell."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, pythonpath_env, write_matrix

pytestmark = pytest.mark.slow

# With --jobs 1 the cells run in file order: a healthy cell, a hanging one (interrupted), another healthy one.
MATRIX = "version: 1\nname: r\naxes: {steps: [12], inject: [none, hang], seed: [1]}\ninclude: [{seed: 2, steps: 12}]\n"


def lines(run_dir: Path) -> list[dict[str, object]]:
    path = run_dir / "results.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def cell_logs(run_dir: Path) -> list[Path]:
    """The cells' own logs (the fork server keeps a log of its own beside them)."""
    return [path for path in (run_dir / "logs").glob("*.log") if path.name != "forkserver.log"]


def wait_for(condition: object, timeout_s: float = 240) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


def test_sigterm_interrupts_cleanly_and_resume_finishes_the_rest(tmp_path: Path) -> None:
    matrix = write_matrix(tmp_path, MATRIX)
    run_dir = tmp_path / "run"
    command = [
        sys.executable,
        "-m",
        "qlora_check",
        "run",
        str(matrix),
        "--out",
        str(run_dir),
        "--root",
        str(tmp_path),
        "--jobs",
        "1",
        "--timeout",
        "300",
    ]
    process = subprocess.Popen(
        command, cwd=REPO, env=pythonpath_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    wait_for(lambda: len(lines(run_dir)) == 1 and len(cell_logs(run_dir)) == 2)  # the hang has started
    time.sleep(1.0)  # the hanging cell is running now
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stdout + stderr
    assert "Traceback" not in stderr
    run = json.loads((run_dir / "run.json").read_text())
    assert run["status"] == "interrupted" and run["ended_at"]
    first = lines(run_dir)
    assert [(r["values"]["inject"], r["status"]) for r in first] == [("none", "pass"), ("hang", "interrupted")]
    assert not (run_dir / ".lock").exists()

    resumed = subprocess.run(
        [
            sys.executable,
            "-m",
            "qlora_check",
            "run",
            "--resume",
            str(run_dir),
            "--root",
            str(tmp_path),
            "--jobs",
            "1",
            "--timeout",
            "45",
        ],
        cwd=REPO,
        env=pythonpath_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert resumed.returncode == 1, resumed.stdout + resumed.stderr  # the hang now times out: a failure
    every = lines(run_dir)
    final = [r for r in every if r["status"] != "interrupted"]
    assert sorted((r["values"]["inject"], r["values"]["seed"], r["status"]) for r in final) == [
        ("hang", 1, "timeout"),
        ("none", 1, "pass"),
        ("none", 2, "pass"),
    ]
    assert len({r["cell_id"] for r in final}) == len(final) == 3  # exactly one final result per cell
    run = json.loads((run_dir / "run.json").read_text())
    assert run["status"] == "finished" and len(run["resumes"]) == 1
    assert run["summary"]["pass"] == 2 and run["summary"]["timeout"] == 1
