"""A learnable data set written in the formats real trainers read (mlx-lm, TRL, LLaMA-Factory).

Rows are space-separated letter progressions over a 16-letter alphabet, t[i+1] = (t[i] + k) mod 16 with a
random start and k in {1, 2, 3} (see engines/data.py and FACTS.md: uniform random tokens can never be
learned, small-alphabet progressions are learned in a few dozen steps even by a tiny random-init model).
Spaces keep one letter one BPE token, so the pattern survives tokenization. A shipped corpus or a local
text file is cut into lines instead.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from qlora_check.engines.data import SYNTHETIC_ALPHABET_SIZE, SYNTHETIC_ALPHABET_START, read_text

SPLITS = {"train": 256, "valid": 32, "test": 32}
ROW_LETTERS = 32
PROMPT_LETTERS = 8
FORMATS = ("text", "messages", "prompt_completion", "alpaca")


def progression_rows(seed: int, count: int, letters: int = ROW_LETTERS) -> list[str]:
    """``count`` rows of ``letters`` space-separated letters, deterministic for a seed."""
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, SYNTHETIC_ALPHABET_SIZE, size=count)
    strides = rng.integers(1, 4, size=count)
    return [
        " ".join(
            chr(SYNTHETIC_ALPHABET_START + (int(start) + int(stride) * i) % SYNTHETIC_ALPHABET_SIZE)
            for i in range(letters)
        )
        for start, stride in zip(starts, strides, strict=True)
    ]


def corpus_rows(text: str, count: int, seed: int, width: int = 96) -> list[str]:
    """``count`` seeded windows of ``width`` characters from a text, cut at spaces where possible."""
    flat = " ".join(text.split())
    if len(flat) <= width:
        raise ValueError(f"the dataset has {len(flat)} characters; rows of {width} need more")
    rng = np.random.default_rng(seed)
    return [flat[start : start + width].strip() for start in rng.integers(0, len(flat) - width, size=count)]


def dataset_rows(dataset: str, split: str) -> list[str]:
    """The rows of one split for a cell's ``dataset`` axis value (synthetic, a shipped corpus or a file)."""
    seed = list(SPLITS).index(split)  # each split its own seed: valid/test rows are held out
    if dataset == "synthetic":
        return progression_rows(seed, SPLITS[split])
    return corpus_rows(read_text(dataset), SPLITS[split], seed)


def _split_row(row: str) -> tuple[str, str]:
    """A row as (prompt, completion): the first letters ask, the rest answer."""
    cut = len(" ".join(row.split(" ")[:PROMPT_LETTERS]))
    return row[:cut], row[cut:].lstrip()


def _write_jsonl(path: Path, rows: list[dict[str, object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")


def write_datasets(dataset: str, root: Path) -> Path:
    """Write every format under ``root`` (text/, messages/, prompt_completion/, alpaca/); return root.

    The JSONL folders hold train/valid/test.jsonl, the layout mlx-lm reads and `datasets.load_dataset`
    splits by file name (TRL). ``alpaca/`` holds alpaca_train.json and the dataset_info.json
    LLaMA-Factory looks up with ``dataset_dir`` and ``dataset: qlora_check``.
    """
    for split in SPLITS:
        rows = dataset_rows(dataset, split)
        pairs = [_split_row(row) for row in rows]
        _write_jsonl(root / "text" / f"{split}.jsonl", [{"text": row} for row in rows])
        _write_jsonl(
            root / "messages" / f"{split}.jsonl",
            [
                {"messages": [{"role": "user", "content": p}, {"role": "assistant", "content": c}]}
                for p, c in pairs
            ],
        )
        _write_jsonl(
            root / "prompt_completion" / f"{split}.jsonl", [{"prompt": p, "completion": c} for p, c in pairs]
        )
        if split == "train":
            alpaca = [{"instruction": "Continue the sequence.", "input": p, "output": c} for p, c in pairs]
            (root / "alpaca").mkdir(parents=True, exist_ok=True)
            (root / "alpaca" / "alpaca_train.json").write_text(json.dumps(alpaca, indent=1), encoding="utf-8")
    info = {"qlora_check": {"file_name": "alpaca_train.json"}}
    (root / "alpaca" / "dataset_info.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
    return root


def all_text(dataset: str) -> list[str]:
    """Every row of every split: what the tokenizer is trained on."""
    return [row for split in SPLITS for row in dataset_rows(dataset, split)]
