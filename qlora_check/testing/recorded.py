"""Library warnings raised while a helper builds or trains, recorded instead of raised.

The cells record their libraries' warnings in results (`TorchEngine.run`); the helpers do the same, so a
user's ``filterwarnings = error`` does not turn a transformers deprecation inside qlora-check's own code
into a failure of their test. What was recorded is returned with the helper's result.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

MAX_RECORDED = 20


@contextlib.contextmanager
def recording_warnings() -> Iterator[list[str]]:
    """Collect the warnings the block raises as ``"Category: message"`` lines (first ``MAX_RECORDED``, unique)."""
    messages: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield messages
    unique = dict.fromkeys(f"{w.category.__name__}: {w.message}" for w in caught)
    messages.extend(list(unique)[:MAX_RECORDED])
