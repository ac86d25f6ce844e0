"""Matrix validation: every mistake is one clear MatrixError line naming the place and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from qlora_check.errors import MatrixError
from qlora_check.matrix.loader import load_matrix, parse_matrix
from qlora_check.matrix.schema import matrix_json_schema


def error_of(text: str) -> str:
    with pytest.raises(MatrixError) as caught:
        parse_matrix(text, source_name="m.yaml")
    return caught.value.message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("version: 1\nname: x\naxes: {quantizer: bnb-nf5}", ["m.yaml", "quantizer value 'bnb-nf5'", "bnb-nf4"]),
        ("version: 1\nname: x\naxes: {stepz: 3}", ["unknown axis 'stepz'", "Did you mean 'steps'"]),
        ("version: 1\nname: x\nsettings: {timout: 3}", ["settings.timout", "Did you mean 'timeout'"]),
        ("version: 1\nname: x\naxs: {}", ["unknown key 'axs'", "Did you mean 'axes'"]),
        ("version: 1\nname: x\naxes: {steps: many}", ["steps takes a whole number"]),
        ("version: 1\nname: x\naxes: {lr: -1}", ["lr must be at least 0"]),
        ("version: 1\nname: x\naxes: {steps: []}", ["empty list"]),
        ("version: 1\nname: x\naxes: {precision: [fp32, float32]}", ["lists a value twice"]),
        ("version: 1\nname: x\ninclude: [{optimizer: [sgd, adam]}]", ["single value"]),
        ("version: 1\nname: x\nexclude: [{backend: tpu}]", ["backend value 'tpu'"]),
        ("version: 1\nname: x\nexpect: [{match: {backend: cpu}, status: pass, reason: r}]", ["expect[0].status"]),
        ("version: 1\naxes: {}", ["name: required key is missing"]),
        ("version: 2\nname: x", ["version 2 is newer"]),
        ("", ["this file is empty"]),
        ("- a\n- b", ["must be a mapping", "a list"]),
        ("version: 1\nname: [unclosed", ["not valid YAML", "line"]),
        # PyYAML alone would keep the second `steps` and drop the first without a word
        (
            "version: 1\nname: x\naxes:\n  steps: 3\n  train_type: [lora]\n  steps: 20",
            ["line 6", "duplicate key 'steps'", "line 4"],
        ),
        ("version: 1\nname: x\nsettings: {timeout: 0}", ["settings.timeout", "greater than 0"]),
    ],
)
def test_mistakes_get_one_clear_line(text: str, expected: list[str]) -> None:
    message = error_of(text)
    assert "\n" not in message
    for fragment in expected:
        assert fragment in message


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (
            "version: 1\nname: x\naxes:\n  backend: cpu\n  quantizer: [none, hqq-5bit]\n",
            "axes.quantizer[1] (line 5, column 21)",
        ),
        ("version: 1\nname: x\naxes:\n  stepz: 3\n", "axes.stepz (line 4, column 3)"),
        ("version: 1\nname: x\ninclude:\n  - backend: cpu\n    bakend: x\n", "include[0].bakend (line 5"),
        ("version: 1\nname: x\nsettings:\n  timout: 3\n", "settings.timout (line 4, column 3)"),
    ],
)
def test_errors_name_the_yaml_line_and_column(text: str, where: str) -> None:
    assert where in error_of(text)


def test_exclude_of_an_axis_the_matrix_does_not_have_is_refused() -> None:
    from qlora_check.matrix import expand

    matrix = parse_matrix("version: 1\nname: x\naxes: {optimizer: [adam]}\nexclude: [{precision: bf16}]")
    with pytest.raises(MatrixError, match="'precision' is not an axis of this matrix"):
        expand(matrix)


def test_yaml_cannot_construct_python_objects() -> None:
    assert "not valid YAML" in error_of("version: 1\nname: !!python/object/apply:os.system ['echo hacked']")


def test_missing_and_binary_files(tmp_path: Path) -> None:
    with pytest.raises(MatrixError, match="no such file"):
        load_matrix(tmp_path / "absent.yaml")
    garbage = tmp_path / "garbage.yaml"
    garbage.write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(MatrixError, match="not UTF-8"):
        load_matrix(garbage)


def test_scalar_axis_values_become_one_value_lists_and_settings_parse() -> None:
    matrix = parse_matrix("version: 1\nname: x\naxes: {steps: 12, backend: [cpu]}\nsettings: {timeout: 30, jobs: 2}")
    assert matrix.axes == {"steps": [12], "backend": ["cpu"]}
    assert (matrix.settings.timeout, matrix.settings.jobs) == (30.0, 2)


def test_json_schema_lists_every_axis_and_its_values() -> None:
    schema = matrix_json_schema()
    axes = schema["properties"]["axes"]["properties"]
    assert "bnb-nf4" in axes["quantizer"]["anyOf"][0]["enum"]
    assert axes["steps"]["anyOf"][0] == {"type": "integer"}
    assert schema["properties"]["axes"]["additionalProperties"] is False


@pytest.mark.parametrize("path", sorted((Path(__file__).parents[2] / "matrices").glob("*.yaml")))
def test_bundled_matrices_are_valid(path: Path) -> None:
    from qlora_check.matrix import expand

    assert expand(load_matrix(path))


def test_a_matrix_that_multiplies_out_absurdly_is_refused_before_expansion() -> None:
    from qlora_check.matrix import expand

    axes = "\n".join(
        f"  {name}: [{', '.join(str(i) for i in range(1, 31))}]"
        for name in ("steps", "batch_size", "grad_accum", "seed")
    )
    with pytest.raises(MatrixError, match="810,000 combinations"):
        expand(parse_matrix(f"version: 1\nname: x\naxes:\n{axes}\n"))
