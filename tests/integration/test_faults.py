"""Every fault survived and recorded: one run injects each fault; the healthy cells still pass."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from qlora_check.execution.run import RunOptions
from qlora_check.results.models import Status
from qlora_check.results.store import read_results
from tests.conftest import run_and_report, write_matrix

pytestmark = pytest.mark.slow
FAULTS = Path(__file__).resolve().parents[1] / "matrices" / "faults.yaml"


def alive(pid: int, within_s: float = 5.0) -> bool:
    """Whether ``pid`` still runs after ``within_s`` (a zombie awaiting its reaper counts as dead)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return False
        if state in ("Z", "X"):
            return False
        time.sleep(0.1)
    return True


@pytest.fixture(scope="module")
def fault_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("faults")
    outcome = run_and_report(RunOptions(matrix_path=FAULTS, root=root, jobs=2, timeout=20))
    assert outcome.exit_code == 1
    return {result.values["inject"] + "/" + result.values["train_type"]: result for result in outcome.results.values()}


@pytest.mark.parametrize(
    ("key", "status", "reason"),
    [
        ("none/lora", Status.PASS, r"^$"),
        ("none/full", Status.PASS, r"^$"),
        ("segfault/lora", Status.CRASH, r"^killed by SIGSEGV$"),
        ("abort/lora", Status.CRASH, r"^killed by SIGABRT$"),
        ("sigkill/lora", Status.CRASH, r"^killed by SIGKILL$"),
        ("oom/lora", Status.OOM, r"MemoryError"),
        ("hang/lora", Status.TIMEOUT, r"20 s timeout"),
        ("raise/lora", Status.ERROR, r"RuntimeError: injected fault: raise"),
        ("exit/lora", Status.ERROR, r"exited with code 3 without writing a result"),
    ],
)
def test_each_fault_maps_to_its_status(fault_run: dict[str, object], key: str, status: Status, reason: str) -> None:
    result = fault_run[key]
    assert result.status is status, result.reason  # type: ignore[attr-defined]
    assert re.search(reason, result.reason)  # type: ignore[attr-defined]
    if status is not Status.PASS:
        assert result.error is not None  # type: ignore[attr-defined]


def test_a_timeout_kills_the_grandchildren_too(fault_run: dict[str, object]) -> None:
    log = Path(fault_run["hang/lora"].log_path).read_text()  # type: ignore[attr-defined]
    pid = int(re.search(r"grandchild pid (\d+)", log).group(1))  # type: ignore[union-attr]
    assert not alive(pid)
    assert "grandchild pid" in fault_run["hang/lora"].error.traceback  # type: ignore[attr-defined]  # the log tail


def test_retries_rerun_infrastructure_failures_and_mark_disagreement_flaky(tmp_path: Path) -> None:
    matrix = write_matrix(tmp_path, "version: 1\nname: r\naxes: {steps: [12], inject: [crash_once, segfault, raise]}\n")
    outcome = run_and_report(RunOptions(matrix_path=matrix, root=tmp_path, jobs=2, retries=1))
    final = {r.values["inject"]: r for r in outcome.results.values()}
    assert final["crash_once"].status is Status.FLAKY and final["crash_once"].attempt == 2
    assert final["crash_once"].attempts == [{"attempt": 1, "status": "crash", "reason": "killed by SIGSEGV"}]
    assert final["segfault"].status is Status.CRASH and final["segfault"].attempt == 2
    assert final["raise"].status is Status.ERROR and final["raise"].attempt == 1  # an exception is not retried
    every = read_results(outcome.run_dir).results
    assert sorted((r.values["inject"], r.attempt) for r in every) == [
        ("crash_once", 1),
        ("crash_once", 2),
        ("raise", 1),
        ("segfault", 1),
        ("segfault", 2),
    ]
    assert Path(final["segfault"].log_path).name.endswith(".attempt2.log")


def test_a_memory_cap_turns_a_greedy_cell_into_oom(tmp_path: Path) -> None:
    # Attention scores alone for batch 512 x 256 tokens take 512 MiB: far past a 400 MiB cap.
    greedy = "version: 1\nname: m\naxes: {train_type: full, steps: 4, batch_size: 512, seq_len: 256}\n"
    matrix = write_matrix(tmp_path, greedy)
    outcome = run_and_report(RunOptions(matrix_path=matrix, root=tmp_path, jobs=1, max_memory_mb=400))
    (result,) = outcome.results.values()
    assert result.status is Status.OOM, result.reason
