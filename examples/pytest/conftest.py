"""Settings for the example suite, as a user's own conftest.py would have them."""

from __future__ import annotations

import os

# One compute thread per test process before torch is imported: pytest-xdist runs several test processes,
# and two torch processes with 2 OpenMP threads each on 2 cores ran a tiny training step ~140x slower.
os.environ.setdefault("OMP_NUM_THREADS", "1")
