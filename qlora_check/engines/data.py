"""Training data a tiny model can learn in a few dozen steps, as plain integer arrays.

Framework-free (numpy), so the torch and MLX engines train on exactly the same tokens. The ``dataset``
axis names one of:

- ``synthetic`` (default): arithmetic progressions over a 16-letter alphabet, t[i+1] = (t[i] + k) mod 16,
  with a random start and k in {1, 2, 3}; after two tokens the rest of a sequence is determined. Uniform
  random tokens can never be learned (the loss floor is ln V), so they are never used.
- a text corpus shipped in the package (``qlora_check/engines/corpus/NAME.txt``, e.g. ``prose``);
- a local ``.txt`` file, or a ``.jsonl`` file whose lines carry a ``text`` field.

Text is tokenized byte-level (token id = byte) unless the engine passes the model's own ``encode``.
Batches are seeded windows of ``seq_len`` tokens cut from the concatenated token stream.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from qlora_check.engines.tokenizer import encode as byte_encode

SYNTHETIC_ALPHABET_START = ord("a")
SYNTHETIC_ALPHABET_SIZE = 16
CORPUS_DIR = Path(__file__).resolve().parent / "corpus"
EVAL_SEED_OFFSET = 1_000_003  # held-out batches: a seed the training batches never use

Encoder = Callable[[str], list[int]]


def synthetic_batches(seed: int, steps: int, batch_size: int, seq_len: int) -> np.ndarray:
    """Token ids shaped (steps, batch_size, seq_len), deterministic for a seed."""
    rng = np.random.default_rng(seed)
    start = rng.integers(0, SYNTHETIC_ALPHABET_SIZE, size=(steps, batch_size, 1))
    stride = rng.integers(1, 4, size=(steps, batch_size, 1))
    positions = np.arange(seq_len).reshape(1, 1, seq_len)
    return (SYNTHETIC_ALPHABET_START + (start + stride * positions) % SYNTHETIC_ALPHABET_SIZE).astype(np.int64)


def shipped_corpora() -> list[str]:
    """Names of the corpora shipped in the package."""
    return sorted(path.stem for path in CORPUS_DIR.glob("*.txt"))


def read_text(dataset: str) -> str:
    """The text of a shipped corpus or a local .txt / .jsonl file."""
    if dataset in shipped_corpora():
        return (CORPUS_DIR / f"{dataset}.txt").read_text(encoding="utf-8")
    path = Path(dataset).expanduser()
    if not path.is_file():
        raise ValueError(
            f"unknown dataset {dataset!r}: not synthetic, not a shipped corpus ({', '.join(shipped_corpora())}), "
            "and not an existing .txt or .jsonl file"
        )
    if path.suffix == ".jsonl":
        lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        missing = [number for number, line in enumerate(lines, 1) if not isinstance(line.get("text"), str)]
        if missing:
            raise ValueError(f"{path}: line {missing[0]} has no string 'text' field")
        return "\n".join(line["text"] for line in lines)
    if path.suffix == ".txt":
        return path.read_text(encoding="utf-8")
    raise ValueError(f"{path}: datasets are .txt or .jsonl files")


def text_batches(
    text: str, seed: int, steps: int, batch_size: int, seq_len: int, encode: Encoder = byte_encode
) -> np.ndarray:
    """Seeded windows of the tokenized text, shaped (steps, batch_size, seq_len)."""
    tokens = np.asarray(encode(text), dtype=np.int64)
    if tokens.size <= seq_len:
        raise ValueError(f"the dataset has {tokens.size} tokens; seq_len {seq_len} needs more")
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, tokens.size - seq_len + 1, size=(steps, batch_size))
    windows: np.ndarray = tokens[starts[..., None] + np.arange(seq_len)]
    return windows


def load_batches(
    dataset: str, seed: int, steps: int, batch_size: int, seq_len: int, encode: Encoder | None = None
) -> np.ndarray:
    """The batches for a cell's ``dataset`` axis value."""
    if dataset == "synthetic":
        return synthetic_batches(seed, steps, batch_size, seq_len)
    return text_batches(read_text(dataset), seed, steps, batch_size, seq_len, encode or byte_encode)


def eval_batch(dataset: str, seed: int, batch_size: int, seq_len: int, encode: Encoder | None = None) -> np.ndarray:
    """One held-out batch (batch_size, seq_len) for the checks that compare two computations."""
    batch: np.ndarray = load_batches(dataset, seed + EVAL_SEED_OFFSET, 1, batch_size, seq_len, encode)[0]
    return batch
