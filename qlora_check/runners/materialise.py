"""`{model}` and `{data}` for command runners: the tiny model as a real Hugging Face folder, and data sets.

Real trainers (mlx-lm, TRL, LLaMA-Factory, torchtune) load a model *folder* by path and data in their own
formats; none of them can use qlora-check's in-memory tiny models. So once per cache key this writes:

- ``model/``: the tiny config through ``save_pretrained`` (safetensors), with a byte-level BPE tokenizer
  trained here on the data set's own text (no download), a chat template and pad/eos tokens;
- ``data/``: the learnable rows in every format of `trainer_data` (text, messages, prompt/completion,
  Alpaca + dataset_info.json).

The key covers everything the files depend on, so a changed recipe never reuses stale files. Building
happens in a private temporary folder renamed into place, so two cells materialising at once never see
a half-written folder (the loser of the race discards its copy). Heavy imports stay inside functions.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qlora_check.engines.tiny_models import TINY_MODELS
from qlora_check.runners import trainer_data

RECIPE_VERSION = 1  # bump when what is written changes
MODEL_SEED = 0  # the folder is shared by every cell of a key; cells vary their training seed, not weights
BPE_VOCAB_SIZE = 512
PAD, BOS, EOS = "<|pad|>", "<|bos|>", "<|eos|>"
ROLE_TOKENS = ("<|system|>", "<|user|>", "<|assistant|>")
CHAT_TEMPLATE = (
    "{% for message in messages %}{{ '<|' + message['role'] + '|>' + message['content'] + '<|eos|>' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}"
)


@dataclass(frozen=True)
class Materialised:
    """Where the model folder and the data root are (both read-only for the trainers)."""

    key: str
    model: Path
    data: Path


def cache_key(model: str, dataset: str) -> str:
    """A short hash of every input of the recipe."""
    recipe: dict[str, Any] = {
        "version": RECIPE_VERSION,
        "model": TINY_MODELS[model],
        "dataset": dataset,
        "dataset_file": _file_identity(dataset),
        "splits": trainer_data.SPLITS,
        "vocab": BPE_VOCAB_SIZE,
        "template": CHAT_TEMPLATE,
    }
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]


def _file_identity(dataset: str) -> list[float] | None:
    """Size and mtime of a local data file, so editing it changes the key."""
    path = Path(dataset).expanduser()
    if dataset == "synthetic" or not path.is_file():
        return None
    stat = path.stat()
    return [stat.st_size, stat.st_mtime]


def materialise(model: str, dataset: str, cache_root: Path) -> Materialised:
    """The folders for (model, dataset), built on first use under ``cache_root/materialised/KEY``."""
    if model not in TINY_MODELS:
        raise ValueError(f"{{model}} is only for the built-in tiny models ({', '.join(TINY_MODELS)}), not {model!r}")
    key = cache_key(model, dataset)
    final = cache_root / "materialised" / key
    if not (final / "complete.json").is_file():
        final.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=final.parent))
        try:
            _build(model, dataset, staging)
            (staging / "complete.json").write_text(
                json.dumps({"schema_version": 1, "key": key, "model": model, "dataset": dataset}), encoding="utf-8"
            )
            with contextlib.suppress(OSError):  # another cell won the race: its copy is identical
                staging.rename(final)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return Materialised(key=key, model=final / "model", data=final / "data")


def _build(model: str, dataset: str, root: Path) -> None:
    trainer_data.write_datasets(dataset, root / "data")
    tokenizer = _train_tokenizer(trainer_data.all_text(dataset))
    _save_model(model, tokenizer, root / "model")
    root.chmod(0o755)  # mkdtemp makes it private; the trainers may run as the same user, but reading is harmless


def _train_tokenizer(texts: list[str]) -> Any:
    """A byte-level BPE tokenizer trained on ``texts``, wrapped as a transformers fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=BPE_VOCAB_SIZE,
        special_tokens=[PAD, BOS, EOS, *ROLE_TOKENS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        additional_special_tokens=list(ROLE_TOKENS),
        chat_template=CHAT_TEMPLATE,
        model_max_length=TINY_MODELS["tiny-llama"]["max_position_embeddings"],
    )


def _save_model(model: str, tokenizer: Any, directory: Path) -> None:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    settings = dict(TINY_MODELS[model])
    settings.update(
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    config = AutoConfig.for_model(settings.pop("model_type"), **settings)
    torch.manual_seed(MODEL_SEED)
    network = AutoModelForCausalLM.from_config(config)
    network.save_pretrained(directory, safe_serialization=True)
    tokenizer.save_pretrained(directory)
