"""Property-based fuzzing: whatever a matrix file or a results file holds, the answer is a
QloraCheckError with one clear line, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qlora_check.errors import QloraCheckError
from qlora_check.matrix import expand, load_matrix, parse_matrix
from qlora_check.matrix.axes import AXES
from qlora_check.results.store import read_results, read_run

KEYS = st.sampled_from(
    [
        "version",
        "name",
        "axes",
        "exclude",
        "include",
        "expect",
        "settings",
        "match",
        "status",
        "reason",
        "timeout",
        *AXES,
        "bogus",
        "ünïcødé",
        "",
    ]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True),
    st.text(max_size=30),
    st.sampled_from(["cpu", "lora", "bnb-nf4", "fp32", "1", "-1", "nan"]),
)
DOCUMENTS = st.recursive(
    SCALARS,
    lambda children: st.one_of(st.lists(children, max_size=6), st.dictionaries(KEYS, children, max_size=6)),
    max_leaves=40,
)


def accepts_or_explains(run: object) -> None:
    try:
        run()  # type: ignore[operator]
    except QloraCheckError as exc:
        assert exc.message and "\n" not in exc.message


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=DOCUMENTS)
def test_any_yaml_document(document: object) -> None:
    text = yaml.safe_dump(document, allow_unicode=True)
    accepts_or_explains(lambda: expand(parse_matrix(text)))


@settings(max_examples=200, deadline=None)
@given(
    axes=st.dictionaries(st.sampled_from(list(AXES)), st.one_of(SCALARS, st.lists(SCALARS, max_size=8)), max_size=6),
    extra=st.dictionaries(st.sampled_from(["include", "exclude", "expect", "settings"]), DOCUMENTS, max_size=2),
)
def test_plausible_matrices_with_wrong_values(axes: dict[str, object], extra: dict[str, object]) -> None:
    text = yaml.safe_dump({"version": 1, "name": "fuzz", "axes": axes, **extra}, allow_unicode=True)
    accepts_or_explains(lambda: expand(parse_matrix(text)))


@settings(max_examples=200, deadline=None)
@given(raw=st.binary(max_size=400))
def test_binary_garbage_and_empty_files(tmp_path_factory: object, raw: bytes) -> None:
    path = Path(tmp_path_factory.mktemp("fuzz")) / "m.yaml"  # type: ignore[attr-defined]
    path.write_bytes(raw)
    accepts_or_explains(lambda: load_matrix(path))


@settings(max_examples=150, deadline=None)
@given(text=st.text(max_size=300))
def test_arbitrary_unicode_text(text: str) -> None:
    accepts_or_explains(lambda: parse_matrix(text))


def test_a_huge_list_is_answered_not_expanded_forever() -> None:
    values = ", ".join(str(i) for i in range(1, 5001))
    accepts_or_explains(
        lambda: expand(parse_matrix(f"version: 1\nname: big\naxes: {{steps: [{values}], seed: [{values}]}}"))
    )


@settings(max_examples=200, deadline=None)
@given(lines=st.lists(st.one_of(st.binary(max_size=80), DOCUMENTS.map(lambda d: json.dumps(d).encode())), max_size=5))
def test_any_results_file(tmp_path_factory: object, lines: list[bytes]) -> None:
    directory = Path(tmp_path_factory.mktemp("results"))  # type: ignore[attr-defined]
    (directory / "results.jsonl").write_bytes(b"\n".join(lines))
    (directory / "run.json").write_bytes(lines[0] if lines else b"")
    accepts_or_explains(lambda: read_results(directory))
    accepts_or_explains(lambda: read_run(directory))
