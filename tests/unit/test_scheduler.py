"""The scheduler's slots and ordering, with a launcher that records what it was asked to run.

The launcher here stands in for process isolation only (tested in tests/integration); no library is
faked. It sleeps briefly so that cells overlap and the scheduler's limits are really exercised.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from qlora_check.events import ignore
from qlora_check.execution.job import CellJob
from qlora_check.execution.ordering import expected_seconds, heuristic_seconds, longest_first, previous_durations
from qlora_check.execution.resources import CPU, CUDA, METAL, Demand, SlotPool, demand_for, resource_of
from qlora_check.execution.scheduler import run_jobs
from qlora_check.matrix.cell import Cell
from qlora_check.results.models import CellResult, Status
from qlora_check.results.store import RunWriter, point_latest


def job(tmp_path: Path, **values: object) -> CellJob:
    cell = Cell.from_values(values)  # type: ignore[arg-type]
    return CellJob(
        cell=cell,
        work_dir=tmp_path / cell.id,
        log_path=tmp_path / f"{cell.id}.log",
        timeout_s=60,
        demand=demand_for(cell),
    )


class RecordingLauncher:
    """Runs nothing; records concurrency per resource and the environment each job was given."""

    isolation = "recording"

    def __init__(self, seconds: float = 0.05) -> None:
        self.seconds = seconds
        self.lock = threading.Lock()
        self.active: Counter[str] = Counter()
        self.peak: Counter[str] = Counter()
        self.started: list[CellJob] = []

    def run(self, job: CellJob) -> CellResult:
        keys = ["all", resource_of(job.cell), f"device:{job.extra_env.get('CUDA_VISIBLE_DEVICES')}"]
        with self.lock:
            self.started.append(job)
            for key in keys:
                self.active[key] += 1
                self.peak[key] = max(self.peak[key], self.active[key])
        time.sleep(self.seconds)
        with self.lock:
            for key in keys:
                self.active[key] -= 1
        cell = job.cell
        return CellResult(cell.id, cell.label, cell.values, Status.PASS)

    def cancel_all(self) -> None:
        pass


def test_resources_of_backends() -> None:
    assert resource_of(Cell.from_values({"backend": "cpu"})) == CPU
    assert resource_of(Cell.from_values({"backend": "cuda"})) == CUDA
    assert resource_of(Cell.from_values({"backend": "mps"})) == METAL


def test_cpu_cells_never_exceed_the_thread_budget(tmp_path: Path) -> None:
    jobs = [job(tmp_path, seed=seed) for seed in range(9)]
    launcher = RecordingLauncher()
    recorded: list[CellResult] = []
    interrupted = run_jobs(jobs, launcher, 3, recorded.append, ignore)
    assert not interrupted
    assert sorted(r.cell_id for r in recorded) == sorted(j.cell.id for j in jobs)
    assert launcher.peak["all"] == 3  # the budget is used, and never exceeded
    assert all(started.threads == 1 for started in launcher.started)


def test_one_cell_per_cuda_device_pinned_with_cuda_visible_devices(tmp_path: Path) -> None:
    jobs = [job(tmp_path, backend="cuda", seed=seed) for seed in range(6)]
    jobs += [job(tmp_path, backend="cpu", seed=seed) for seed in range(4)]
    launcher = RecordingLauncher()
    run_jobs(jobs, launcher, 8, lambda result: None, ignore, pool=SlotPool(8, ["3", "5"]))
    assert launcher.peak[CUDA] == 2
    assert launcher.peak["device:3"] == 1 and launcher.peak["device:5"] == 1
    devices = Counter(j.extra_env.get("CUDA_VISIBLE_DEVICES") for j in launcher.started if j.cell["backend"] == "cuda")
    assert set(devices) == {"3", "5"} and sum(devices.values()) == 6
    assert all("CUDA_VISIBLE_DEVICES" not in j.extra_env for j in launcher.started if j.cell["backend"] == "cpu")
    assert launcher.peak[CPU] >= 2  # CPU cells ran beside the GPU cells, not behind them


def test_metal_cells_run_one_at_a_time(tmp_path: Path) -> None:
    jobs = [job(tmp_path, backend="mps", seed=seed) for seed in range(4)]
    launcher = RecordingLauncher()
    run_jobs(jobs, launcher, 4, lambda result: None, ignore, pool=SlotPool(4))
    assert launcher.peak[METAL] == 1
    assert len(launcher.started) == 4


def test_a_cell_asking_for_more_threads_than_the_budget_is_clamped(tmp_path: Path) -> None:
    pool = SlotPool(2)
    grant = pool.try_acquire(replace(job(tmp_path).demand, threads=8))
    assert grant is not None
    pinned = job(tmp_path).with_grant(grant)
    assert pinned.threads == 2 and grant.threads == 2
    assert pool.try_acquire(job(tmp_path, seed=1).demand) is None  # the budget is spent
    pool.release(grant)
    assert pool.try_acquire(job(tmp_path, seed=1).demand) is not None


def test_cuda_cells_without_devices_fail_early(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="no CUDA device"):
        run_jobs([job(tmp_path, backend="cuda")], RecordingLauncher(), 2, lambda r: None, ignore, pool=SlotPool(2))


def test_a_two_device_demand_gets_two_distinct_devices_or_waits() -> None:
    pool = SlotPool(8, ["0", "1", "2"])
    pair = Demand(threads=2, device_kind=CUDA, devices=2)
    first = pool.try_acquire(pair)
    assert first is not None and len(set(first.devices)) == 2 and first.threads == 2
    assert pool.try_acquire(pair) is None  # one device left: the second pair waits
    single = pool.try_acquire(Demand(device_kind=CUDA, devices=1))
    assert single is not None and single.devices[0] not in first.devices
    pool.release(first)
    second = pool.try_acquire(pair)
    assert second is not None and set(second.devices) == set(first.devices)
    with pytest.raises(Exception, match="need 4 device"):
        pool.check([Demand(device_kind=CUDA, devices=4)])


def test_a_launcher_that_raises_costs_its_cell_not_the_run(tmp_path: Path) -> None:
    class Broken(RecordingLauncher):
        def run(self, job: CellJob) -> CellResult:
            if job.cell["seed"] == 1:
                raise OSError("no space left on device")
            return super().run(job)

    recorded: list[CellResult] = []
    jobs = [job(tmp_path, seed=seed) for seed in range(3)]
    assert not run_jobs(jobs, Broken(), 2, recorded.append, ignore)
    statuses = {result.values["seed"]: result.status for result in recorded}
    assert statuses == {0: Status.PASS, 1: Status.ERROR, 2: Status.PASS}
    broken = next(result for result in recorded if result.values["seed"] == 1)
    assert "OSError: no space left on device" in broken.reason


def test_longest_expected_first_uses_history_then_the_heuristic(tmp_path: Path) -> None:
    short, long_, unknown_big = job(tmp_path, steps=12), job(tmp_path, steps=13), job(tmp_path, steps=400)
    history = {short.cell.id: 9.0, long_.cell.id: 1.0}  # history wins over the heuristic
    ordered = longest_first([long_, short, unknown_big], history)
    assert [j.cell.id for j in ordered] == [unknown_big.cell.id, short.cell.id, long_.cell.id]
    expected = expected_seconds([long_, short, unknown_big], history)
    # unknown cells are scaled by the median ratio of known durations to their heuristic
    assert expected[unknown_big.cell.id] > heuristic_seconds(unknown_big.cell)


def test_serial_run_starts_cells_in_longest_first_order(tmp_path: Path) -> None:
    jobs = [job(tmp_path, steps=steps) for steps in (10, 300, 40, 100)]
    launcher = RecordingLauncher(seconds=0.0)
    run_jobs(jobs, launcher, 1, lambda r: None, ignore)
    assert [j.cell["steps"] for j in launcher.started] == [300, 100, 40, 10]


def test_previous_durations_come_from_the_latest_run(tmp_path: Path) -> None:
    root = tmp_path / "reports"
    run_dir = root / "runs" / "previous"
    writer = RunWriter(run_dir)
    writer.acquire()
    cell = Cell.from_values({"steps": 12})
    writer.append(CellResult(cell.id, cell.label, cell.values, Status.PASS, timings={"wall_s": 4.5, "total_s": 4.0}))
    skipped = Cell.from_values({"backend": "cuda"})
    writer.append(CellResult(skipped.id, skipped.label, skipped.values, Status.SKIP, reason="no GPU"))
    writer.release()
    assert previous_durations(root) == {}  # no latest yet
    point_latest(root, run_dir)
    assert previous_durations(root) == {cell.id: 4.5}
