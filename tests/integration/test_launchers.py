"""One fault matrix through both launchers: the same statuses whichever launcher ran the cell.

The faults strike before the cell imports its engine, so the matrix is cheap for both launchers; a fork
server without preloads is enough to prove its side of the classification.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from qlora_check.execution.job import CellJob
from qlora_check.execution.launchers.forkserver import ForkServerLauncher
from qlora_check.execution.launchers.interface import Launcher
from qlora_check.execution.launchers.spawn import SpawnLauncher
from qlora_check.matrix.cell import Cell
from qlora_check.results.models import Status

pytestmark = pytest.mark.slow
FAULTS = [
    ("segfault", Status.CRASH, "killed by SIGSEGV"),
    ("abort", Status.CRASH, "killed by SIGABRT"),
    ("sigkill", Status.CRASH, "killed by SIGKILL"),
    ("raise", Status.ERROR, "RuntimeError: injected fault: raise"),
    ("exit", Status.ERROR, "the worker exited with code 3 without writing a result"),
    ("oom", Status.OOM, "MemoryError"),
    ("hang", Status.TIMEOUT, "exceeded the 3 s timeout"),
]


@pytest.fixture(params=["spawn", "forkserver"], scope="module")
def launcher(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Launcher]:
    chosen: Launcher
    if request.param == "spawn":
        chosen = SpawnLauncher()
    else:
        chosen = ForkServerLauncher([], [], tmp_path_factory.mktemp("server") / "forkserver.log")
    with chosen:
        yield chosen


@pytest.mark.parametrize(("fault", "status", "reason"), FAULTS)
def test_every_fault_gets_the_same_status_through_both_launchers(
    launcher: Launcher, tmp_path: Path, fault: str, status: Status, reason: str
) -> None:
    cell = Cell.from_values({"inject": fault})
    job = CellJob(cell, tmp_path / "work", tmp_path / "cell.log", timeout_s=3.0 if fault == "hang" else 120.0)
    result = launcher.run(job)
    assert result.status is status, (launcher.isolation, result.reason)
    assert reason in result.reason
    assert result.timings["wall_s"] > 0 and result.log_path == str(tmp_path / "cell.log")
    assert launcher.isolation in ("spawn", "forkserver")  # a faulting child never made the server fall back


def test_a_launcher_whose_launch_raises_gives_that_cell_an_error(tmp_path: Path) -> None:
    class Broken(SpawnLauncher):
        def launch(self, request: object) -> object:  # type: ignore[override]
            raise PermissionError("cannot execute the interpreter")

    result = Broken().run(CellJob(Cell.from_values({}), tmp_path / "w", tmp_path / "c.log", timeout_s=5))
    assert result.status is Status.ERROR
    assert result.reason == "the launcher failed: PermissionError: cannot execute the interpreter"
