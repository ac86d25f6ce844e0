"""The `runners:` section: validation with the key path, placeholders, argv without a shell."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qlora_check.matrix.runners import DefinitionError, RunnerDefinition, fill, parse_runners, template_fields


def test_a_string_command_is_split_like_posix_and_args_are_per_axis_value() -> None:
    runner = parse_runners(
        {
            "trl": {
                "command": "trl sft --model_name_or_path '{model}' --learning_rate {lr}",
                "args": {
                    "train_type": {"qlora": "--load_in_4bit --bnb_4bit_quant_type nf4"},
                    "precision": {"fp32": []},
                },
                "supports": {"train_type": ["lora", "qlora"], "precision": "fp32"},
                "env": {"FLAG": True, "N": 3},
                "timeout": 300,
                "learned_margin": 0.05,
                "schedule": "{scheduler}",
            }
        }
    )["trl"]
    assert runner.command == ("trl", "sft", "--model_name_or_path", "{model}", "--learning_rate", "{lr}")
    assert runner.args["train_type"]["qlora"] == ("--load_in_4bit", "--bnb_4bit_quant_type", "nf4")
    assert runner.supports == {"train_type": ("lora", "qlora"), "precision": ("fp32",)}
    assert runner.env == {"FLAG": "true", "N": "3"} and runner.timeout == 300.0
    assert runner.uses("scheduler") and runner.uses("lr") and not runner.uses("steps")
    assert RunnerDefinition.from_dict(runner.to_dict()) == runner  # what travels in the job spec


def test_a_filled_value_stays_one_argument_whatever_it_contains() -> None:
    runner = parse_runners({"x": {"command": ["python", "train.py", "--name={model}", "{dataset}"]}})["x"]
    hostile = ";rm -rf x $(touch y) `z` && echo 'q'"
    argv = [fill(part, {"model": hostile, "dataset": hostile}) for part in runner.command]
    assert argv == ["python", "train.py", f"--name={hostile}", hostile]


def test_literal_braces_are_written_doubled() -> None:
    assert template_fields("{{not}} {steps}") == ["steps"]
    assert fill("--json={{\"steps\": {steps}}}", {"steps": "30"}) == '--json={"steps": 30}'


@pytest.mark.parametrize(
    ("body", "path", "message"),
    [
        ({"command": "trl --max_steps {stepz}"}, ("r", "command"), "unknown placeholder 'stepz'.*Did you mean 'steps'"),
        ({"command": "x {steps!r}"}, ("r", "command"), "no format spec"),
        ({"command": "x", "args": {"colour": {"red": []}}}, ("r", "args", "colour"), "unknown axis 'colour'"),
        ({"command": "x", "args": {"train_type": {"qlora": "--a {nope}"}}}, ("r", "args", "train_type"), "nope"),
        ({"command": "x", "supports": {"precision": ["fp99"]}}, ("r", "supports", "precision"), "fp99"),
        ({"command": "x", "learned_margin": 1.5}, ("r", "learned_margin"), "up to"),
        ({"command": "x", "min_steps": 2.5}, ("r", "min_steps"), "whole number"),
        ({"command": "x", "env": {"QLORA_CHECK_METRICS": "/tmp/x"}}, ("r", "env", "QLORA_CHECK_METRICS"), "cannot"),
        ({"command": "x", "schedule": "wavy"}, ("r", "schedule"), "unknown schedule 'wavy'"),
        ({"command": "x", "shell": True}, ("r", "shell"), "unknown runner key 'shell'"),
        ({"command": "a 'unclosed"}, ("r", "command"), "No closing quotation"),
        ({"args": {}}, ("r",), "needs a command"),
        ({"command": []}, ("r", "command"), "empty"),
    ],
)
def test_bad_definitions_say_where(body: object, path: tuple[str, ...], message: str) -> None:
    with pytest.raises(DefinitionError, match=message) as raised:
        parse_runners({"r": body})
    assert raised.value.path == path


def test_builtin_is_reserved() -> None:
    with pytest.raises(DefinitionError, match="builtin"):
        parse_runners({"builtin": {"command": "x"}})


MATRIX_WITH_SECRET = """version: 1
name: s
runners:
  trl:
    command: trl sft --max_steps {steps}
    env:
      HF_TOKEN: hf_secret_value_123   # a comment stays
      OTHER: {inline: no}
axes: {runner: trl}
"""


def test_the_stored_matrix_keeps_env_names_not_values(tmp_path: Path) -> None:
    from qlora_check.matrix.loader import parse_matrix
    from qlora_check.matrix.runners import ENV_NOT_STORED, without_env_values

    stored = without_env_values(MATRIX_WITH_SECRET.replace("{inline: no}", "'2'"))
    assert "hf_secret_value_123" not in stored and "# a comment stays" in stored
    matrix = parse_matrix(stored)
    assert matrix.runners["trl"].env == {"HF_TOKEN": ENV_NOT_STORED, "OTHER": ENV_NOT_STORED}
    original = parse_matrix(MATRIX_WITH_SECRET.replace("{inline: no}", "'2'"))
    assert "hf_secret_value_123" not in json.dumps(original.to_dict())  # run.json's copy of the matrix


def test_resuming_reads_env_values_from_the_matrix_file_again(tmp_path: Path) -> None:
    from qlora_check.errors import QloraCheckError
    from qlora_check.execution.run import _with_env_values
    from qlora_check.matrix.loader import parse_matrix
    from qlora_check.matrix.runners import without_env_values

    text = MATRIX_WITH_SECRET.replace("{inline: no}", "'2'")
    path = tmp_path / "m.yaml"
    path.write_text(text)
    stored = parse_matrix(without_env_values(text))
    resumed = _with_env_values(stored, {"path": str(path)})
    assert resumed.runners["trl"].env == {"HF_TOKEN": "hf_secret_value_123", "OTHER": "2"}
    path.unlink()
    with pytest.raises(QloraCheckError, match="env values of runner trl"):
        _with_env_values(stored, {"path": str(path)})
