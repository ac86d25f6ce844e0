"""Start one probe worker, bounded by a timeout, through the same launcher cells use, and say how it ended.

A fresh interpreter in its own session (a hang is killed with its children), one compute thread, the
answer written to a file we name (stray prints cannot corrupt it).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from qlora_check.execution.launchers.spawn import SpawnLauncher
from qlora_check.execution.launchers.types import LaunchRequest, RawOutcome

WORKER_MODULE = "qlora_check.doctor.probe_worker"


def run_worker(request: dict[str, Any], timeout_s: float, env: dict[str, str] | None = None) -> RawOutcome:
    """Run the probe worker on ``request``; ``env`` adds to (or overrides) the inherited environment."""
    with tempfile.TemporaryDirectory(prefix="qlora-check-probe-") as scratch:
        directory = Path(scratch)
        request_path, result_path = directory / "request.json", directory / "result.json"
        request_path.write_text(json.dumps(request), encoding="utf-8")
        launch = LaunchRequest(
            entry=WORKER_MODULE,
            args=(str(request_path), str(result_path)),
            log_path=directory / "log",
            result_path=result_path,
            timeout_s=timeout_s,
            env=env or {},
        )
        return SpawnLauncher().launch(launch)
