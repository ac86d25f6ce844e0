"""`tiny_tokenizer`: a real byte-level BPE tokenizer, trained here on the corpus the package ships.

Not a mock: it is trained with Hugging Face ``tokenizers`` and wrapped as a ``PreTrainedTokenizerFast``, so
it encodes, decodes, pads and saves like any Hub tokenizer. Training takes a fraction of a second and is
done once per process (each call returns a fresh object, so one test's padding settings never leak into
another's).

Issue 14 trains a byte-level BPE tokenizer for the checkpoints real trainers load
(``qlora_check/runners/materialise.py``); the two must become one function once both have landed.
"""

from __future__ import annotations

import functools
from typing import Any

from qlora_check.engines.data import read_text

DEFAULT_VOCAB_SIZE = 320  # the 256 bytes, the special tokens and some merges: small enough for a tiny model
EOS = "<|endoftext|>"
PAD = "<|pad|>"


@functools.lru_cache(maxsize=8)
def _trained(vocab_size: int) -> str:
    """The trained tokenizer as JSON (the cache holds text, never a mutable tokenizer object)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS, PAD],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(_training_text(), trainer=trainer)
    text: str = tokenizer.to_str()
    return text


def _training_text() -> list[str]:
    """The shipped prose corpus, line by line (never the synthetic sequences: merges would swallow them)."""
    return read_text("prose").splitlines()


def tiny_tokenizer(vocab_size: int = DEFAULT_VOCAB_SIZE) -> Any:
    """A trained byte-level BPE ``PreTrainedTokenizerFast`` with ``vocab_size`` entries at most.

    Pair it with ``tiny_model(vocab_size=len(tokenizer))`` so every id it produces has an embedding.
    """
    if vocab_size < 258:
        raise ValueError(f"a byte-level BPE needs 256 bytes and 2 special tokens: vocab_size >= 258, not {vocab_size}")
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=_from_json(_trained(vocab_size)),
        eos_token=EOS,
        bos_token=EOS,
        pad_token=PAD,
    )


def _from_json(text: str) -> Any:
    from tokenizers import Tokenizer

    return Tokenizer.from_str(text)
