"""Built-in model configs and estimate requests: the dimensions are the public ones; bad setups are refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qlora_check.estimate.configs import builtin_names, load_config
from qlora_check.estimate.request import EstimateError, EstimateRequest

# Parameter counts the model cards publish (billions); a wrong hidden/intermediate/layer/head/vocab value
# moves the count by far more than the tolerance.
PUBLISHED_PARAMETERS_B = {
    "llama-3-8b": 8.03,
    "llama-3.1-70b": 70.55,
    "mistral-7b": 7.24,
    "qwen2.5-7b": 7.62,
    "qwen3-8b": 8.19,
    "gemma-2-9b": 9.24,
    "phi-3-mini": 3.82,
}


def test_the_built_in_configs_are_the_seven_asked_for() -> None:
    assert builtin_names() == sorted(PUBLISHED_PARAMETERS_B)


@pytest.mark.parametrize("name", sorted(PUBLISHED_PARAMETERS_B))
def test_built_in_config_has_the_published_parameter_count(name: str) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    from qlora_check.estimate.build import hf_config

    config = load_config(name)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(hf_config(config, config.layers))
    unique = {id(parameter): parameter.numel() for parameter in model.parameters()}
    billions = sum(unique.values()) / 1e9
    assert billions == pytest.approx(PUBLISHED_PARAMETERS_B[name], rel=0.01)


def test_a_model_folder_and_a_config_file_both_load(tmp_path: Path) -> None:
    values = {"model_type": "llama", "num_hidden_layers": 3, "hidden_size": 64, "vocab_size": 100}
    (tmp_path / "config.json").write_text(json.dumps(values), encoding="utf-8")
    from_folder = load_config(str(tmp_path))
    from_file = load_config(str(tmp_path / "config.json"))
    assert from_folder.values == from_file.values == values
    assert from_folder.layers == 3


def test_an_unknown_model_names_the_built_in_ones() -> None:
    with pytest.raises(EstimateError) as raised:
        load_config("llama-9-1t")
    assert "llama-3-8b" in (raised.value.tip or "")


@pytest.mark.parametrize(
    ("quantizer", "train_type", "words"),
    [
        ("none", "qlora", "not a valid setup"),
        ("bnb-nf4", "lora", "not a valid setup"),
        ("bnb-nf5", "qlora", "not estimated"),
        ("mlx-4bit", "qlora", "not estimated"),
        ("none", "llama_pro", "not estimated"),
    ],
)
def test_invalid_setups_are_refused_before_anything_runs(quantizer: str, train_type: str, words: str) -> None:
    with pytest.raises(EstimateError, match=words):
        EstimateRequest("llama-3-8b", quantizer=quantizer, train_type=train_type).check()


def test_a_valid_qlora_request_passes() -> None:
    EstimateRequest("llama-3-8b", quantizer="bnb-nf4", train_type="qlora").check()
