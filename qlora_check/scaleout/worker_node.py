"""Starting a Ray node that advertises this host's doctor verdicts: `ray start` with the offer, no shell."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from qlora_check.errors import QloraCheckError
from qlora_check.scaleout.node_resources import NodeOffer
from qlora_check.scaleout.session import INSTALL_HINT

DEFAULT_PORT = 6379


def ray_executable(required: bool = True) -> str:
    """Ray's CLI next to this interpreter (the same environment), else the first on PATH; plain ``ray`` when
    it is missing and not ``required`` (a dry run only prints the command)."""
    beside = Path(sys.executable).with_name("ray")
    if beside.exists():
        return str(beside)
    found = shutil.which("ray")
    if found is None:
        if not required:
            return "ray"
        raise QloraCheckError("the `ray` command is not installed", tip=INSTALL_HINT)
    return found


def ray_start_argv(
    offer: NodeOffer,
    *,
    head: bool,
    address: str | None = None,
    port: int = DEFAULT_PORT,
    num_cpus: int | None = None,
    executable: str | None = None,
) -> list[str]:
    """The `ray start --block` command line for a head (``head``) or a node joining ``address``."""
    if head == (address is not None):
        raise QloraCheckError("a worker either starts the head (--head) or joins one (--ray ADDRESS)")
    argv = [executable or ray_executable(), "start", "--block", "--disable-usage-stats"]
    argv += ["--head", f"--port={port}"] if head else [f"--address={address}"]
    if num_cpus is not None:
        argv.append(f"--num-cpus={num_cpus}")
    argv.append(f"--resources={json.dumps(offer.resources, sort_keys=True)}")
    if offer.labels:
        argv.append("--labels=" + ",".join(f"{key}={value}" for key, value in sorted(offer.labels.items())))
    return argv
