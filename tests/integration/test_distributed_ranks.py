"""Multi-process cells on the CPU (gloo), through a real run (fork server, worker, forked ranks): the ranks
agree with each other and exactly with one process, and a rank that crashes, raises or hangs ends the whole
cell with the right status, naming the rank, leaving no process behind."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from qlora_check.distributed.launch import RANK_MARKER
from qlora_check.execution.run import RunOptions
from qlora_check.results.models import CellResult, Status
from tests.conftest import run_and_report

pytestmark = pytest.mark.slow
MATRIX = Path(__file__).resolve().parents[1] / "matrices" / "distributed_faults.yaml"
TIMEOUT_S = 30.0


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, CellResult]]:
    root = tmp_path_factory.mktemp("distributed")
    outcome = run_and_report(RunOptions(matrix_path=MATRIX, root=root, jobs=2, timeout=TIMEOUT_S))
    return root, {
        f"{result.values['distributed']}/{result.values['inject']}": result for result in outcome.results.values()
    }


def marked_processes(root: Path) -> list[int]:
    """Every live process whose environment carries a rank marker under ``root`` (ranks and their children)."""
    prefix = f"{RANK_MARKER}={root}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environment = (entry / "environ").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state not in ("Z", "X") and any(item.startswith(prefix) for item in environment):
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


@pytest.mark.parametrize("strategy", ["ddp", "fsdp", "fsdp2"])
def test_healthy_two_rank_cell_passes_with_ranks_agreeing_exactly(
    run: tuple[Path, dict[str, CellResult]], strategy: str
) -> None:
    result = run[1][f"{strategy}/none"]
    assert result.status is Status.PASS, (result.reason, result.error)
    checks = {check.name: check for check in result.checks}
    assert checks["ranks_agree"].figures["distinct_hashes"] == 1
    single = checks["matches_single"].figures
    assert single["limit"] == 0.0 and single["max_abs_diff"] == 0.0 and single["parameters_max_abs_diff"] == 0.0
    assert checks["checkpoint"].passed
    distributed = result.engine["distributed"]
    assert distributed["backend"] == "gloo" and distributed["world_size"] == 2
    assert distributed["launch"] == "fork"  # warm: the ranks were forked from the cell's worker
    per_rank = result.memory["per_rank"]
    assert [entry["rank"] for entry in per_rank] == [0, 1]
    assert result.memory["peak_rss_mb"] == max(entry["peak_rss_mb"] for entry in per_rank)


@pytest.mark.parametrize(
    ("fault", "status", "reason"),
    [
        ("segfault", Status.CRASH, r"^rank 1 was killed by SIGSEGV"),
        ("raise", Status.ERROR, r"^rank 1: RuntimeError: injected fault: raise"),
        ("hang", Status.TIMEOUT, r"^rank 1 hung"),
    ],
)
def test_a_failing_rank_ends_the_cell_naming_it(
    run: tuple[Path, dict[str, CellResult]], fault: str, status: Status, reason: str
) -> None:
    result = run[1][f"ddp/{fault}"]
    assert result.status is status, (result.reason, result.error)
    assert re.search(reason, result.reason), result.reason
    assert result.timings["wall_s"] <= TIMEOUT_S + 10  # the contract: the cell's limit plus 10 s at most
    ranks = result.engine["distributed"]["ranks"]
    assert [rank["rank"] for rank in ranks] == [0, 1]
    assert not any(alive(rank["pid"]) for rank in ranks)


def test_no_rank_or_rank_child_survives(run: tuple[Path, dict[str, CellResult]]) -> None:
    assert marked_processes(run[0]) == []


def test_spawned_ranks_get_the_fault_injector_too(tmp_path: Path) -> None:
    """The fallback where forking is unsafe: fresh interpreters through execution.rank_entry."""
    from qlora_check.distributed.cell import DistributedRequest, run_distributed
    from qlora_check.distributed.failure import RankFailure
    from qlora_check.execution.faults import inject
    from qlora_check.matrix.axes import DEFAULTS

    values = {**DEFAULTS, "distributed": "ddp", "world_size": 2, "steps": 4, "inject": "raise"}
    request = DistributedRequest(values, tmp_path, timeout_s=240.0, fault=inject)
    with pytest.raises(RankFailure) as failure:
        run_distributed(request, force_spawn=True)
    assert failure.value.rank == 1 and failure.value.error_type == "builtins.RuntimeError"
    assert failure.value.launch["launch"] == "spawn"
    assert not any(alive(rank["pid"]) for rank in failure.value.launch["ranks"])
