"""A spawned rank's entry point (where forking ranks from the worker is unsafe):
``python -m qlora_check.execution.rank_entry RANKS_SPEC RANK``. It lives with the worker because it hands
the rank the worker's fault injector, as a forked rank inherits it."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    from qlora_check.distributed.rank import RankSpec, run_rank
    from qlora_check.execution.faults import inject

    data = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    return run_rank(RankSpec(**{**data, "rank": int(argv[1])}), inject)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
