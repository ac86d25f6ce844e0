"""The fork server with real cells: crashes stay in their cell, limits apply in the child, and the
launcher falls back to a clean spawn where forking is unsafe."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from qlora_check.events import ignore
from qlora_check.execution.job import CellJob
from qlora_check.execution.launchers.forkserver import ForkServerLauncher, choose_launcher, fallback_notice, preload_for
from qlora_check.execution.launchers.spawn import SpawnLauncher
from qlora_check.execution.resources import Demand
from qlora_check.execution.scheduler import run_jobs
from qlora_check.matrix.cell import Cell
from qlora_check.results.models import CellResult, Status

pytestmark = pytest.mark.slow
TINY = {"steps": 12, "batch_size": 8, "seq_len": 32}


def make_job(directory: Path, timeout_s: float = 120, threads: int = 1, **values: object) -> CellJob:
    cell = Cell.from_values({**TINY, **values})  # type: ignore[arg-type]
    return CellJob(
        cell=cell,
        work_dir=directory / "work" / cell.id,
        log_path=directory / "logs" / f"{cell.id}.log",
        timeout_s=timeout_s,
        demand=Demand(threads=threads),
    )


@pytest.fixture(scope="module")
def launcher(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ForkServerLauncher]:
    """One warm server for the module (its preload is the expensive part)."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    cells = [Cell.from_values(TINY)]
    modules, warmup = preload_for(cells)
    log = tmp_path_factory.mktemp("forkserver") / "forkserver.log"
    with ForkServerLauncher(modules, warmup, log) as server:
        yield server


def server_alive(launcher: ForkServerLauncher) -> bool:
    return launcher._server.poll() is None


def test_a_crash_in_one_forked_cell_leaves_the_server_and_the_other_cells_intact(
    launcher: ForkServerLauncher, tmp_path: Path
) -> None:
    jobs = [
        make_job(tmp_path, seed=1),
        make_job(tmp_path, inject="segfault"),
        make_job(tmp_path, seed=2),
        make_job(tmp_path, inject="abort"),
    ]
    results: dict[str, CellResult] = {}
    run_jobs(
        jobs,
        launcher,
        2,
        lambda result: results.__setitem__(result.values["inject"] + str(result.values["seed"]), result),
        ignore,
    )
    assert results["segfault0"].status is Status.CRASH
    assert results["segfault0"].error is not None and results["segfault0"].error.type == "SIGSEGV"
    assert results["abort0"].status is Status.CRASH and "SIGABRT" in results["abort0"].reason
    for key in ("none1", "none2"):
        assert results[key].status is Status.PASS, results[key].reason
        assert len(results[key].losses) == 12
    assert server_alive(launcher)
    assert launcher.isolation == "forkserver"
    after = launcher.run(make_job(tmp_path, seed=3))
    assert after.status is Status.PASS  # the server still forks healthy cells after the crashes


def test_the_thread_budget_is_applied_in_the_child(launcher: ForkServerLauncher, tmp_path: Path) -> None:
    one = launcher.run(make_job(tmp_path, threads=1, seed=4))
    two = launcher.run(make_job(tmp_path, threads=2, seed=5))
    assert one.status is Status.PASS and two.status is Status.PASS
    assert one.engine["threads"] == 1
    assert two.engine["threads"] == 2
    assert launcher.ready["preloaded"][0] == "torch"  # the server had torch loaded: the child re-pinned it


def test_a_hung_forked_cell_times_out_and_its_group_is_killed(launcher: ForkServerLauncher, tmp_path: Path) -> None:
    result = launcher.run(make_job(tmp_path, timeout_s=1.5, inject="hang"))
    assert result.status is Status.TIMEOUT
    assert server_alive(launcher)
    assert launcher._running == {}


def test_cancel_all_interrupts_running_forked_cells(tmp_path: Path) -> None:
    fresh = ForkServerLauncher([], [], tmp_path / "cancel.log")  # a light server: cancelling sets a flag for good
    try:
        results: list[CellResult] = []
        worker = threading.Thread(target=lambda: results.append(fresh.run(make_job(tmp_path, inject="hang"))))
        worker.start()
        deadline = time.monotonic() + 60
        while not fresh._running and time.monotonic() < deadline:
            time.sleep(0.05)
        fresh.cancel_all()
        worker.join(30)
        assert results and results[0].status is Status.INTERRUPTED
    finally:
        fresh.close()
    assert fresh._server.poll() is not None  # closing stops the server


def test_an_unsafe_server_falls_back_to_spawn_and_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "starts_a_thread.py").write_text(
        "import threading, time\nthreading.Thread(target=time.sleep, args=(600,), daemon=True).start()\n"
    )
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    with ForkServerLauncher(["starts_a_thread"], [], tmp_path / "forkserver.log") as launcher:
        result = launcher.run(make_job(tmp_path, inject="raise"))  # fails before importing torch: cheap to spawn
        assert launcher.isolation.startswith("spawn: ") and "threads" in launcher.isolation
        notice = fallback_notice(launcher)
        assert notice is not None and "threads" in notice
    assert result.status is Status.ERROR and "injected fault" in result.reason


def test_isolation_spawn_can_be_forced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QLORA_CHECK_ISOLATION", "spawn")
    launcher = choose_launcher([Cell.from_values(TINY)], tmp_path)
    assert isinstance(launcher, SpawnLauncher)
    assert launcher.isolation == "spawn: QLORA_CHECK_ISOLATION=spawn"
    assert fallback_notice(launcher) is None  # asked for: nothing to warn about


def test_a_forked_cell_trains_exactly_like_a_freshly_spawned_one(launcher: ForkServerLauncher, tmp_path: Path) -> None:
    """Nothing from the warm server (its warm-up cell, its RNG state) leaks into a cell's numbers."""
    forked = launcher.run(make_job(tmp_path / "fork", seed=7))
    spawned = SpawnLauncher().run(make_job(tmp_path / "spawn", seed=7))
    assert forked.status is Status.PASS and spawned.status is Status.PASS
    assert forked.losses == spawned.losses
    assert forked.lrs == spawned.lrs


def test_an_mlx_only_server_does_not_import_torch(tmp_path: Path) -> None:
    cells = [Cell.from_values({**TINY, "backend": "mlx"})]
    modules, warmup = preload_for(cells)
    assert not {"torch", "peft", "qlora_check.engines.torch_engine.engine"} & set(modules)
    assert warmup == []  # an MLX op starts a thread, which would make the server unsafe to fork
    with ForkServerLauncher(["mlx.core"], warmup, tmp_path / "forkserver.log") as launcher:
        result = launcher.run(make_job(tmp_path, inject="raise"))
        assert launcher.ready["torch_imported"] is False
        assert launcher.isolation == "forkserver"
    assert result.status is Status.ERROR and "injected fault" in result.reason


def test_cancelling_while_the_server_preloads_starts_no_cell(tmp_path: Path) -> None:
    modules, warmup = preload_for([Cell.from_values(TINY)])
    launcher = ForkServerLauncher(modules, warmup, tmp_path / "forkserver.log")
    try:
        launcher.cancel_all()
        result = launcher.run(make_job(tmp_path, inject="hang"))
    finally:
        launcher.close()
    assert result.status is Status.INTERRUPTED
    assert launcher.isolation == "forkserver"  # a cancelled start is not a reason to call the server broken
    assert not (tmp_path / "logs" / f"{result.cell_id}.log").exists()  # the cell never started


def test_the_preload_follows_the_planned_cells() -> None:
    plain, _ = preload_for([Cell.from_values(TINY)])
    assert "bitsandbytes" not in plain and "hqq" not in plain
    quantized, warmup = preload_for(
        [
            Cell.from_values({"train_type": "qlora", "quantizer": "bnb-nf4"}),
            Cell.from_values({"train_type": "qlora", "quantizer": "hqq-4bit"}),
            Cell.from_values({"optimizer": "adamw_8bit"}),
        ]
    )
    assert {"torch", "peft", "bitsandbytes", "hqq"} <= set(quantized)
    assert "optimum.quanto" not in quantized and "mlx.core" not in quantized
    assert warmup == ["torch"]


def test_a_server_never_asked_for_a_cell_is_stopped_without_waiting_for_its_preload(tmp_path: Path) -> None:
    # An early server (started before the plan) that the plan did not need: still importing torch & co. It
    # would read its stdin's EOF only after the preload; close() stops it at once instead (it has no children).
    launcher = ForkServerLauncher(["torch", "transformers", "peft"], [], tmp_path / "forkserver.log")
    launcher.close()
    assert launcher.ready == {}  # it never reported ready
    returncode = launcher._server.returncode
    assert returncode is not None and returncode < 0  # ended by a signal, not by finishing its preload
