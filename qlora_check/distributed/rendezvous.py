"""Process-group set-up and tear-down, rendezvous through a file in the cell's work dir (no ports).

The group's timeout is short (``GROUP_TIMEOUT_S``): a rank that dies must not leave its peers blocked in a
collective for gloo's default 30 minutes; the launcher's watcher usually ends the cell long before.
"""

from __future__ import annotations

import contextlib
import gc
from datetime import timedelta
from pathlib import Path

GROUP_TIMEOUT_S = 120.0
RENDEZVOUS_FILE = "rendezvous"


def backend_for(device_kind: str) -> str:
    """gloo on the CPU, NCCL on CUDA."""
    return "nccl" if device_kind == "cuda" else "gloo"


def rendezvous_path(work_dir: Path) -> Path:
    return work_dir / RENDEZVOUS_FILE


def init_group(rank: int, world_size: int, work_dir: Path, device_kind: str, timeout_s: float) -> str:
    """Join the cell's process group; returns the backend used."""
    import torch.distributed as dist

    backend = backend_for(device_kind)
    timeout = timedelta(seconds=max(1.0, min(GROUP_TIMEOUT_S, timeout_s)))
    dist.init_process_group(
        backend=backend,
        init_method=rendezvous_path(work_dir).absolute().as_uri(),
        rank=rank,
        world_size=world_size,
        timeout=timeout,
    )
    return backend


def teardown() -> None:
    """Leave the group cleanly: collect, barrier, destroy.

    An FSDP2 rank that exits with its group alive can die with SIGABRT after training has finished; the
    caller deletes its model first, so that no sharded parameter outlives the group.
    """
    import torch.distributed as dist

    gc.collect()
    if not dist.is_initialized():
        return
    with contextlib.suppress(Exception):  # a peer that already failed makes the barrier fail too
        dist.barrier()
    dist.destroy_process_group()


def torchrun_environment(rank: int, world_size: int, master_port: int, local_rank: int | None = None) -> dict[str, str]:
    """The variables torchrun sets, for a command runner whose trainer reads them (``env://`` rendezvous)."""
    return {
        "RANK": str(rank),
        "WORLD_SIZE": str(world_size),
        "LOCAL_RANK": str(rank if local_rank is None else local_rank),
        "LOCAL_WORLD_SIZE": str(world_size),
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(master_port),
    }


def free_port() -> int:
    """A TCP port free right now on the loopback (for ``MASTER_PORT``; a small race remains, as with torchrun)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def rank_device(device_kind: str, local_rank: int) -> str:
    """The device a rank computes on: ``cpu``, or ``cuda:<local rank>`` (within CUDA_VISIBLE_DEVICES)."""
    return f"cuda:{local_rank}" if device_kind == "cuda" else "cpu"


__all__ = [
    "GROUP_TIMEOUT_S",
    "backend_for",
    "free_port",
    "init_group",
    "rank_device",
    "rendezvous_path",
    "teardown",
    "torchrun_environment",
]
