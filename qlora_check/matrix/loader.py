"""Reading a matrix file: YAML -> validated `Matrix`, or one clear `MatrixError` line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from qlora_check.errors import MatrixError
from qlora_check.matrix.model import PRODUCT, ExpectRule, Matrix, Settings, Strategy
from qlora_check.matrix.positions import refine, yaml_position
from qlora_check.matrix.runners import BUILTIN, DefinitionError, parse_runners
from qlora_check.matrix.schema import MATRIX_VERSION, ExpectModel, MatrixModel, NwiseModel, SettingsModel
from qlora_check.names import unknown_name_message

MAX_MATRIX_BYTES = 5_000_000
_MODELS_AT: dict[tuple[str, ...], type[BaseModel]] = {
    (): MatrixModel,
    ("settings",): SettingsModel,
    ("expect",): ExpectModel,
}


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML keeps the last of two equal keys without a word; in a matrix that silently drops a setting."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first_line: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
            try:
                earlier = first_line.setdefault(key, key_node.start_mark.line + 1)
            except TypeError:  # an unhashable key: PyYAML itself reports it
                continue
            if earlier != key_node.start_mark.line + 1:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first given at line {earlier})", key_node.start_mark
                )
        return super().construct_mapping(node, deep)


def _read_yaml(text: str) -> Any:
    """One YAML document through the safe loader that refuses repeated keys."""
    loader = _UniqueKeyLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def load_matrix(path: Path) -> Matrix:
    """Load and validate the matrix at ``path``."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise MatrixError(f"{path}: no such file", tip="pass the path of a matrix YAML file") from None
    except OSError as exc:
        raise MatrixError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_MATRIX_BYTES:
        raise MatrixError(f"{path}: too large for a matrix ({len(raw)} bytes)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MatrixError(f"{path}: not UTF-8 text") from None
    return parse_matrix(text, source_name=str(path), path=path)


def parse_matrix(text: str, *, source_name: str = "<matrix>", path: Path | None = None) -> Matrix:
    """Validate matrix YAML text."""
    try:
        document = _read_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise MatrixError(
            f"{source_name}: not valid YAML{where}: {problem}",
            tip="give each key once" if "duplicate key" in problem else "check indentation, colons and brackets there",
        ) from None
    except RecursionError:
        raise MatrixError(f"{source_name}: YAML nested too deeply") from None
    if not isinstance(document, dict):
        kind = "empty" if document is None else f"a {type(document).__name__}"
        raise MatrixError(
            f"{source_name}: a matrix must be a mapping with version, name and axes; this file is {kind}",
            tip="see docs/matrix.md or run `qlora-check schema`",
        )
    version = document.get("version")
    if isinstance(version, int) and not isinstance(version, bool) and version > MATRIX_VERSION:
        raise MatrixError(
            f"{source_name}: matrix version {version} is newer than this qlora-check reads (up to {MATRIX_VERSION})",
            tip="upgrade qlora-check",
        )
    try:
        model = MatrixModel.model_validate(document)
    except ValidationError as exc:
        raise MatrixError(
            f"{source_name}: {_describe(exc, text, document)}", tip="run `qlora-check schema` for the format"
        ) from None
    except RecursionError:
        raise MatrixError(f"{source_name}: nested too deeply") from None
    return _to_matrix(model, path=path, source=text, source_name=source_name)


def _to_matrix(model: MatrixModel, *, path: Path | None, source: str, source_name: str) -> Matrix:
    matrix_dir = str(path.resolve().parent) if path is not None else None
    try:
        runners = parse_runners(model.runners, matrix_dir)
    except DefinitionError as exc:
        raise MatrixError(f"{source_name}: {_at(source, ['runners', *exc.path])}: {exc}") from None
    _check_runner_values(model, runners, source, source_name)
    return Matrix(
        name=model.name,
        description=model.description,
        axes={name: list(values) if isinstance(values, list) else [values] for name, values in model.axes.items()},
        exclude=[dict(entry) for entry in model.exclude],
        include=[dict(entry) for entry in model.include],
        expect=[ExpectRule(**rule.model_dump()) for rule in model.expect],
        settings=Settings(**model.settings.model_dump()),
        strategy=_strategy(model.strategy),
        path=path,
        source=source,
        runners=runners,
    )


def _at(source: str, path: list[str]) -> str:
    """A YAML place as ``runners.trl.command (line 5, column 14)``."""
    position = yaml_position(source, path)
    where = ".".join(path)
    return f"{where} (line {position[0]}, column {position[1]})" if position else where


def _check_runner_values(model: MatrixModel, runners: dict[str, Any], source: str, source_name: str) -> None:
    """Every `runner` value the matrix names is `builtin` or one of its `runners:`."""
    known = [BUILTIN, *runners]
    places: list[tuple[list[str], Any]] = [(["axes", "runner"], value) for value in model.axes.get("runner", [])]
    for section in ("include", "exclude"):
        for index, entry in enumerate(getattr(model, section)):
            if "runner" in entry:
                places.append(([section, str(index), "runner"], entry["runner"]))
    for index, rule in enumerate(model.expect):
        if "runner" in rule.match:
            places.append((["expect", str(index), "match", "runner"], rule.match["runner"]))
    for path, value in places:
        if str(value) not in known:
            message = unknown_name_message("runner", value, known)
            raise MatrixError(
                f"{source_name}: {_at(source, path)}: {message}", tip="define it under runners: (docs/runners.md)"
            )


def _strategy(value: str | NwiseModel) -> Strategy:
    if isinstance(value, NwiseModel):
        return Strategy(value.nwise)
    return Strategy(2) if value == "pairwise" else PRODUCT


def _describe(exc: ValidationError, text: str, document: dict[str, Any]) -> str:
    """The first validation error as one line: where (with its YAML line and column), then what."""
    error = exc.errors()[0]
    location = refine([str(part) for part in error["loc"]], document)
    where = _format_location(location)
    position = yaml_position(text, _yaml_path(location), key=error["type"] == "extra_forbidden" or len(location) == 2)
    if position is not None:
        where = f"{where or 'top level'} (line {position[0]}, column {position[1]})"
    if error["type"] == "extra_forbidden":
        parent = tuple(part for part in location[:-1] if not part.isdigit())
        known = _MODELS_AT.get(parent)
        known_names = list(known.model_fields) if known else []
        return f"{where or 'top level'}: " + unknown_name_message("key", location[-1], known_names)
    if error["type"] == "missing":
        return f"{where}: required key is missing"
    message = str(error["msg"]).removeprefix("Value error, ")
    given = error.get("input")
    suffix = "" if error["type"] == "value_error" or isinstance(given, (dict, list)) else f" (got {given!r})"
    return f"{where or 'top level'}: {message}{suffix}"


def _yaml_path(parts: list[str]) -> list[str]:
    """The location without pydantic's union-branch markers: a path into the YAML document."""
    return [part for part in parts if not _is_branch_marker(part)]


def _is_branch_marker(part: str) -> bool:
    return part in {"str", "int", "float", "bool", "list[union[str,int,float,bool]]"} or "[" in part


def _format_location(parts: list[str]) -> str:
    text = ""
    for part in parts:
        if part.isdigit():
            text += f"[{part}]"
        elif _is_branch_marker(part):
            continue  # pydantic's union-branch markers say nothing to a user
        else:
            text += f".{part}" if text else part
    return text
