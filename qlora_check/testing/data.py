"""`learnable_dataset`: sequences a tiny model really learns in a few dozen steps, in the shape a test wants.

The cells' own synthetic data (`qlora_check.engines.data.synthetic_batches`): arithmetic progressions over a
16-letter alphabet, t[i+1] = (t[i] + k) mod 16 with a random start and k in {1, 2, 3}. Uniform random tokens
are never used: their loss floor is ln V, so no model can show it learned.
"""

from __future__ import annotations

from typing import Any

from qlora_check.engines.data import synthetic_batches
from qlora_check.engines.tokenizer import decode

FORMATS = ("ids", "text", "records", "torch", "mlx")


def learnable_dataset(n: int, format: str = "ids", *, seq_len: int = 32, seed: int = 0) -> Any:
    """``n`` learnable sequences of ``seq_len`` tokens, deterministic for a ``seed``.

    ``format``: ``ids`` (numpy int64 array (n, seq_len), byte-level ids, what `train_steps` takes), ``torch``
    or ``mlx`` (the same ids as that framework's array), ``text`` (a list of strings, e.g. ``"behknqtw…"``, for
    a tokenizer), ``records`` (``[{"text": …}]``, the shape of a jsonl or Hugging Face dataset).
    """
    if n < 1 or seq_len < 2:
        raise ValueError(f"need n >= 1 and seq_len >= 2, not n={n}, seq_len={seq_len}")
    ids = synthetic_batches(seed, 1, n, seq_len)[0]
    if format == "ids":
        return ids
    if format == "torch":
        import torch

        return torch.from_numpy(ids)
    if format == "mlx":
        import mlx.core as mx

        return mx.array(ids.astype("int32"))
    texts = [decode(row.tolist()) for row in ids]
    if format == "text":
        return texts
    if format == "records":
        return [{"text": text} for text in texts]
    raise ValueError(f"unknown format {format!r}; known: {', '.join(FORMATS)}")
