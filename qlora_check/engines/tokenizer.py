"""A byte-level tokenizer: token id = byte value. No files, no downloads, same on every framework."""

from __future__ import annotations

BYTE_VOCAB_SIZE = 256


def encode(text: str) -> list[int]:
    return list(text.encode("utf-8"))


def decode(ids: list[int]) -> str:
    return bytes(i % BYTE_VOCAB_SIZE for i in ids).decode("utf-8", errors="replace")
