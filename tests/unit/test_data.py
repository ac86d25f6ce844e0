"""Datasets: synthetic, the shipped corpus, local .txt and .jsonl files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from qlora_check.engines import data


def test_synthetic_is_seeded_and_follows_its_rule() -> None:
    a = data.load_batches("synthetic", 3, 2, 4, 16)
    assert np.array_equal(a, data.load_batches("synthetic", 3, 2, 4, 16))
    assert not np.array_equal(a, data.load_batches("synthetic", 4, 2, 4, 16))
    steps = (np.diff(a - data.SYNTHETIC_ALPHABET_START, axis=-1)) % data.SYNTHETIC_ALPHABET_SIZE
    assert set(np.unique(steps)) <= {1, 2, 3}


def test_shipped_corpus_gives_byte_windows_of_the_text() -> None:
    assert "prose" in data.shipped_corpora()
    batches = data.load_batches("prose", 0, 3, 2, 24)
    assert batches.shape == (3, 2, 24) and batches.max() < 256
    text = data.read_text("prose").encode()
    window = bytes(batches[0, 0].tolist())
    assert window in text


def test_held_out_batch_differs_from_training_batches() -> None:
    train = data.load_batches("prose", 0, 1, 8, 32)[0]
    assert not np.array_equal(train, data.eval_batch("prose", 0, 8, 32))


def test_local_txt_and_jsonl(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("hello world, " * 20, encoding="utf-8")
    lines = [json.dumps({"text": "abc " * 10}), json.dumps({"text": "xyz " * 10})]
    (tmp_path / "b.jsonl").write_text("\n".join(lines), encoding="utf-8")
    assert data.load_batches(str(tmp_path / "a.txt"), 0, 1, 2, 8).shape == (1, 2, 8)
    tokens = set(data.load_batches(str(tmp_path / "b.jsonl"), 0, 4, 4, 8).ravel().tolist())
    assert tokens <= set(b"abcxyz \n")


def test_bad_datasets_say_why(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown dataset"):
        data.load_batches("nope", 0, 1, 1, 8)
    (tmp_path / "c.jsonl").write_text(json.dumps({"body": "x"}), encoding="utf-8")
    with pytest.raises(ValueError, match="no string 'text' field"):
        data.load_batches(str(tmp_path / "c.jsonl"), 0, 1, 1, 8)
    (tmp_path / "d.txt").write_text("short", encoding="utf-8")
    with pytest.raises(ValueError, match="needs more"):
        data.load_batches(str(tmp_path / "d.txt"), 0, 1, 1, 8)
