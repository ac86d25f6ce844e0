"""Training data a tiny model can learn in a few dozen steps, as plain integer arrays.

Framework-free (numpy), so the torch and MLX engines train on exactly the same tokens.
Uniform random tokens can never be learned (the loss floor is ln V), so the synthetic set is a
family of arithmetic progressions over a 16-letter alphabet: t[i+1] = (t[i] + k) mod 16, with a
random start and k in {1, 2, 3}. After two tokens the rest of a sequence is determined.
"""

from __future__ import annotations

import numpy as np

SYNTHETIC_ALPHABET_START = ord("a")
SYNTHETIC_ALPHABET_SIZE = 16


def synthetic_batches(seed: int, steps: int, batch_size: int, seq_len: int) -> np.ndarray:
    """Token ids shaped (steps, batch_size, seq_len), deterministic for a seed."""
    rng = np.random.default_rng(seed)
    start = rng.integers(0, SYNTHETIC_ALPHABET_SIZE, size=(steps, batch_size, 1))
    stride = rng.integers(1, 4, size=(steps, batch_size, 1))
    positions = np.arange(seq_len).reshape(1, 1, seq_len)
    return (SYNTHETIC_ALPHABET_START + (start + stride * positions) % SYNTHETIC_ALPHABET_SIZE).astype(np.int64)


def load_batches(dataset: str, seed: int, steps: int, batch_size: int, seq_len: int) -> np.ndarray:
    """The batches for a cell's ``dataset`` axis value."""
    if dataset == "synthetic":
        return synthetic_batches(seed, steps, batch_size, seq_len)
    raise ValueError(f"unknown dataset {dataset!r}; this version knows: synthetic")
