"""A stand-in trainer for the runner tests: records the argv it got, then reports a falling loss in the native
protocol through qlora-check's own shim (the same lines a real trainer with MetricsCallback writes)."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from qlora_check.integrations.protocol import write_point

steps = int(sys.argv[1])
Path("argv.json").write_text(json.dumps(sys.argv[2:]))
for step in range(1, steps + 1):
    write_point(step, 5.0 * math.exp(-0.05 * step), 0.01)
