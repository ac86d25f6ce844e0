"""`qlora-check estimate` through the real CLI: a breakdown, JSON that validates, one-line user errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from tests.conftest import REPO, pythonpath_env

SCHEMA = REPO / "qlora_check" / "schemas" / "estimate.schema.json"
SMALL = {
    "model_type": "llama",
    "hidden_size": 256,
    "intermediate_size": 512,
    "num_hidden_layers": 6,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "vocab_size": 1000,
    "tie_word_embeddings": False,
}


def _estimate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "qlora_check", "estimate", *args],
        capture_output=True, text=True, cwd=REPO, env=pythonpath_env(), timeout=900, check=False,
    )


@pytest.fixture
def small_config(tmp_path: Path) -> Path:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(SMALL), encoding="utf-8")
    return path


def test_json_output_validates_and_extrapolates_to_the_config_depth(small_config: Path) -> None:
    done = _estimate("--model", str(small_config), "--quantizer", "bnb-nf4", "--train-type", "qlora",
                     "--seq-len", "128", "--json")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    jsonschema.validate(document, json.loads(SCHEMA.read_text(encoding="utf-8")))
    assert document["layers"] == 6
    parts = document["parts"]
    one = document["measured"]["one_layer"]
    # f(6) = f(1) + 5·(f(2) - f(1)) for every part
    for name, part in parts.items():
        assert part["bytes"] == one[name] + 5 * part["per_layer"], name
    assert parts["quant_state"]["bytes"] > 0
    assert document["peak_bytes"] == max(document["phase_peaks"].values())
    assert document["quantization"]["path"]


def test_table_output_and_budget(small_config: Path) -> None:
    done = _estimate("--model", str(small_config), "--seq-len", "128", "--budget", "1")
    assert done.returncode == 0, done.stderr
    assert "peak" in done.stdout and "fits in 16GB: yes" in done.stdout
    assert "largest batch × seq_len" in done.stdout


def test_an_invalid_setup_is_one_line_and_exit_2() -> None:
    done = _estimate("--model", "llama-3-8b", "--train-type", "qlora")
    assert done.returncode == 2
    assert "not a valid setup" in done.stderr
    assert "Traceback" not in done.stderr
