"""The environment a trainer command gets: a small allow-list of the parent's, then qlora-check's own.

Values are never recorded anywhere (results, reports, logs): only the names are, so a token passed in
`env:` cannot leak into a report that gets shared. Threads are pinned to the cell's grant, like built-in
cells: two trainers with 2 OpenMP threads each on 2 cores slow each other down by an order of magnitude.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from qlora_check.host import THREAD_VARIABLES

ALLOWED_PARENT = (
    "PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "TERM",
    "PYTHONPATH", "VIRTUAL_ENV", "LD_LIBRARY_PATH", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE",
    "CUDA_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES", "XDG_CACHE_HOME",
    "HF_HOME", "HF_HUB_CACHE", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE",
)  # fmt: skip
QUIET = {
    "PYTHONUNBUFFERED": "1",  # output reaches the file before a limit kills the trainer
    "TOKENIZERS_PARALLELISM": "false",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "WANDB_MODE": "disabled",  # fsdp_qlora, TRL and others report to wandb when it is installed
    "NO_COLOR": "1",
}


def distributed_env(world_size: int, rank: int = 0) -> dict[str, str]:
    """Hook for multi-process command cells (torchrun-style RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT).

    Single-process cells need nothing. Command runners do not launch ranks yet: cells with world_size > 1
    are n/a for them (`command.not_applicable_reason`); the distributed work fills this in.
    """
    if world_size == 1:
        return {}
    raise NotImplementedError("command runners run world_size 1 only")


def trainer_env(
    *, threads: int, metrics_path: Path, added: Mapping[str, str], python: str | None, world_size: int = 1
) -> dict[str, str]:
    """The trainer's full environment."""
    env = {name: os.environ[name] for name in ALLOWED_PARENT if name in os.environ}
    env.update(QUIET)
    env.update({name: str(threads) for name in THREAD_VARIABLES})
    env.update(distributed_env(world_size))
    # The interpreter's own bin folder first: the trainer's console scripts (trl, tune, llamafactory-cli)
    # live beside it, in the runner's `python:` virtualenv or in qlora-check's own environment.
    bin_dir = str(Path(python or sys.executable).expanduser().parent)
    env["PATH"] = os.pathsep.join([bin_dir, env.get("PATH", os.defpath)])
    env.update(added)
    env["QLORA_CHECK_METRICS"] = str(metrics_path)  # last: `env:` cannot redirect the native protocol
    return env
