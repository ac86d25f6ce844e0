"""The materialised model folder and data sets load through the real libraries trainers use."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from qlora_check.runners.materialise import Materialised, cache_key, materialise
from qlora_check.runners.trainer_data import SPLITS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Materialised:
    return materialise("tiny-llama", "synthetic", tmp_path_factory.mktemp("cache"))


def test_model_folder_is_a_real_hf_checkpoint_with_a_trained_tokenizer(built: Materialised) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    assert (built.model / "model.safetensors").is_file()
    tokenizer = AutoTokenizer.from_pretrained(built.model)
    model = AutoModelForCausalLM.from_pretrained(built.model)
    assert model.config.vocab_size == len(tokenizer) < 400  # 256 bytes + specials + trained merges
    assert tokenizer.pad_token == "<|pad|>" and tokenizer.eos_token == "<|eos|>"
    assert tokenizer.pad_token_id != tokenizer.eos_token_id
    assert model.config.eos_token_id == tokenizer.eos_token_id
    ids = tokenizer("a d g j")["input_ids"]
    assert len(ids) == 4  # one letter, one token: the progression survives tokenization
    chat = tokenizer.apply_chat_template(
        [{"role": "user", "content": "a b"}, {"role": "assistant", "content": "c d"}], tokenize=False
    )
    assert chat == "<|user|>a b<|eos|><|assistant|>c d<|eos|>"


def test_every_format_has_its_splits_and_the_rows_are_progressions(built: Materialised) -> None:
    for folder in ("text", "messages", "prompt_completion"):
        for split, count in SPLITS.items():
            rows = (built.data / folder / f"{split}.jsonl").read_text().splitlines()
            assert len(rows) == count
    row = json.loads((built.data / "text" / "train.jsonl").read_text().splitlines()[0])["text"]
    letters = [ord(letter) - ord("a") for letter in row.split(" ")]
    assert len({(b - a) % 16 for a, b in itertools.pairwise(letters)}) == 1
    pair = json.loads((built.data / "prompt_completion" / "train.jsonl").read_text().splitlines()[0])
    assert f"{pair['prompt']} {pair['completion']}" == row
    info = json.loads((built.data / "alpaca" / "dataset_info.json").read_text())
    alpaca = json.loads((built.data / "alpaca" / info["qlora_check"]["file_name"]).read_text())
    assert len(alpaca) == SPLITS["train"] and set(alpaca[0]) == {"instruction", "input", "output"}


def test_second_call_reuses_the_cache_and_the_key_tracks_inputs(built: Materialised, tmp_path: Path) -> None:
    cache_root = built.model.parents[2]
    stamp = (built.model / "model.safetensors").stat().st_mtime_ns
    again = materialise("tiny-llama", "synthetic", cache_root)
    assert again == built and (again.model / "model.safetensors").stat().st_mtime_ns == stamp
    assert cache_key("tiny-llama", "synthetic") != cache_key("tiny-llama", "prose")
    assert cache_key("tiny-llama", "synthetic") != cache_key("tiny-qwen2", "synthetic")
    assert not [path for path in cache_root.glob("materialised/.*")]  # no staging folder left behind
