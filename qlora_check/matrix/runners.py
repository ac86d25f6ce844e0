"""The matrix' `runners:` section: a user's trainer command as plain, validated data.

A runner definition says how to start a trainer for one cell (an argv template; never a shell), what to
add per axis value (`args`), how to read its losses (`metrics`), which cells it can run (`supports`) and
what else to check (`schedule`, `artifact`). Placeholders `{name}` are filled per cell, one argv element
at a time, so a value can never become two arguments or a shell command. Validation here knows the axes;
reader names are checked by the runners package (`runners.command.check_definitions`), which the matrix
must not import.
"""

from __future__ import annotations

import re
import shlex
import string
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import yaml

from qlora_check.matrix.axes import AXES, SCHEDULERS, axis_named
from qlora_check.names import unknown_name_message

BUILTIN = "builtin"
ENV_NOT_STORED = "<not stored>"  # what run.json and reports hold in place of a runner's env values
RUN_PLACEHOLDERS = ("steps", "lr", "seed", "work_dir", "python", "model", "data", "matrix_dir")
RESERVED_ENV = ("QLORA_CHECK_METRICS",)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_KEYS = (
    "command", "args", "metrics", "env", "cwd", "timeout", "learned_margin", "min_steps", "python", "supports",
    "schedule", "artifact", "description",
)  # fmt: skip


class DefinitionError(ValueError):
    """A runner definition is wrong; ``path`` is where in the YAML (below ``runners.NAME``)."""

    def __init__(self, message: str, path: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.path = tuple(path)


@dataclass(frozen=True)
class RunnerDefinition:
    """One entry of `runners:`, normalised. Templates keep their `{placeholders}` until a cell fills them."""

    name: str
    command: tuple[str, ...]
    args: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)
    metrics: Any = "jsonl"
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None
    timeout: float | None = None
    learned_margin: float | None = None
    min_steps: int | None = None
    python: str | None = None
    supports: dict[str, tuple[str, ...]] = field(default_factory=dict)
    schedule: str | None = None
    artifact: str | None = None
    description: str = ""
    matrix_dir: str | None = None  # the matrix file's folder: scripts shipped beside a matrix are found there

    def to_dict(self) -> dict[str, Any]:
        """Everything, env values included: only for the job spec a cell's worker reads, never for files
        others see (those use `public_dict`)."""
        return asdict(self)

    def public_dict(self) -> dict[str, Any]:
        """As `to_dict`, with the env values left out (their names stay)."""
        return {**asdict(self), "env": dict.fromkeys(self.env, ENV_NOT_STORED)}

    def has_env_values(self) -> bool:
        return any(value != ENV_NOT_STORED for value in self.env.values())

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunnerDefinition:
        return cls(
            **{
                **data,
                "command": tuple(data["command"]),
                "args": {axis: {k: tuple(v) for k, v in by.items()} for axis, by in data.get("args", {}).items()},
                "supports": {axis: tuple(values) for axis, values in data.get("supports", {}).items()},
            }
        )

    def templates(self) -> list[str]:
        """Every text a cell fills, for finding which placeholders the runner uses."""
        texts = [*self.command, *(arg for by in self.args.values() for argv in by.values() for arg in argv)]
        texts += [*self.env.values(), *(t for t in (self.cwd, self.schedule, self.artifact) if t is not None)]
        return texts

    def uses(self, placeholder: str) -> bool:
        return any(placeholder in template_fields(text) for text in self.templates())


def template_fields(text: str) -> list[str]:
    """The placeholder names in ``text`` (`{{` and `}}` are literal braces); ValueError if malformed."""
    names = []
    for _literal, name, spec, conversion in string.Formatter().parse(text):
        if name is None:
            continue
        if spec or conversion:
            raise ValueError(f"placeholder {{{name}}} in {text!r} takes no format spec or conversion")
        names.append(name)
    return names


def fill(text: str, values: Mapping[str, str]) -> str:
    """``text`` with its placeholders replaced by ``values`` (names were validated at load time)."""
    parts = []
    for literal, name, _spec, _conversion in string.Formatter().parse(text):
        parts.append(literal)
        if name is not None:
            parts.append(values[name])
    return "".join(parts)


def known_placeholders() -> list[str]:
    return sorted({*RUN_PLACEHOLDERS, *AXES})


def _argv(value: Any, path: Sequence[str]) -> tuple[str, ...]:
    """An argv list from a list of scalars or a string split like a POSIX shell would (without one)."""
    if isinstance(value, str):
        try:
            return tuple(shlex.split(value))
        except ValueError as exc:
            raise DefinitionError(f"cannot split {value!r} into arguments: {exc}", path) from None
    scalars = isinstance(value, list) and all(
        isinstance(item, (str, int, float)) and not isinstance(item, bool) for item in value
    )
    if scalars:
        return tuple(str(item) for item in value)
    raise DefinitionError("takes a list of arguments or a string (split with shlex, never run by a shell)", path)


def _axis_value(axis_name: str, value: Any, path: Sequence[str]) -> str:
    try:
        axis = axis_named(str(axis_name))
        return str(axis.normalise(value))
    except ValueError as exc:
        raise DefinitionError(str(exc), path) from None


def _check_templates(texts: Sequence[str], path: Sequence[str]) -> None:
    known = known_placeholders()
    for text in texts:
        try:
            names = template_fields(text)
        except ValueError as exc:
            raise DefinitionError(str(exc), path) from None
        for name in names:
            if name not in known:
                raise DefinitionError(unknown_name_message("placeholder", name, known), path)


def _number(raw: Mapping[str, Any], key: str, low: float, high: float | None, whole: bool = False) -> Any:
    value = raw.get(key)
    if value is None:
        return None
    ok = isinstance(value, int if whole else (int, float)) and not isinstance(value, bool)
    if not ok or value < low or (high is not None and value >= high):
        bound = f"from {low:g} up to (not including) {high:g}" if high is not None else f"at least {low:g}"
        kind = "a whole number" if whole else "a number"
        raise DefinitionError(f"takes {kind} {bound}, not {value!r}", [key])
    return value if whole else float(value)


def parse_definition(name: str, raw: Any, matrix_dir: str | None = None) -> RunnerDefinition:
    """One runner from its YAML mapping; DefinitionError (with the key path) for anything wrong."""
    if name == BUILTIN:
        raise DefinitionError("'builtin' is qlora-check's own runner; give yours another name")
    if not _NAME.match(name):
        raise DefinitionError("a runner name is letters, digits, '.', '_' or '-' (up to 64)")
    if not isinstance(raw, dict):
        raise DefinitionError("a runner is a mapping with at least a command")
    for key in raw:
        if key not in _KEYS:
            raise DefinitionError(unknown_name_message("runner key", key, _KEYS), [str(key)])
    if "command" not in raw:
        raise DefinitionError("a runner needs a command")
    command = _argv(raw["command"], ["command"])
    if not command:
        raise DefinitionError("the command is empty", ["command"])
    args: dict[str, dict[str, tuple[str, ...]]] = {}
    for axis_name, by_value in (raw.get("args") or {}).items():
        if not isinstance(by_value, dict):
            raise DefinitionError("maps each axis value to extra arguments", ["args", str(axis_name)])
        axis_named_default(axis_name, ["args"])
        args[str(axis_name)] = {
            _axis_value(axis_name, value, ["args", str(axis_name), str(value)]): _argv(
                extra, ["args", str(axis_name), str(value)]
            )
            for value, extra in by_value.items()
        }
    supports: dict[str, tuple[str, ...]] = {}
    for axis_name, values in (raw.get("supports") or {}).items():
        listed = values if isinstance(values, list) else [values]
        axis_named_default(axis_name, ["supports"])
        supports[str(axis_name)] = tuple(
            _axis_value(axis_name, value, ["supports", str(axis_name)]) for value in listed
        )
    env_raw = raw.get("env") or {}
    if not isinstance(env_raw, dict):
        raise DefinitionError("maps variable names to values", ["env"])
    env: dict[str, str] = {}
    for key, value in env_raw.items():
        if not _ENV_NAME.match(str(key)) or key in RESERVED_ENV:
            raise DefinitionError(f"{key!r} cannot be set here", ["env", str(key)])
        if isinstance(value, (dict, list)) or value is None:
            raise DefinitionError("an environment value is a string or a number", ["env", str(key)])
        env[str(key)] = str(value).lower() if isinstance(value, bool) else str(value)
    texts = {key: raw.get(key) for key in ("cwd", "python", "schedule", "artifact", "description")}
    for key, value in texts.items():
        if value is not None and not isinstance(value, str):
            raise DefinitionError("takes a string", [key])
    schedule = texts["schedule"]
    if schedule is not None and not template_fields(schedule) and schedule not in SCHEDULERS:
        raise DefinitionError(unknown_name_message("schedule", schedule, SCHEDULERS), ["schedule"])
    definition = RunnerDefinition(
        name=name,
        command=command,
        args=args,
        metrics=raw.get("metrics", "jsonl"),
        env=env,
        cwd=texts["cwd"],
        timeout=_number(raw, "timeout", 1e-3, None),
        learned_margin=_number(raw, "learned_margin", 0.0, 1.0),
        min_steps=_number(raw, "min_steps", 1, None, whole=True),
        python=texts["python"],
        supports=supports,
        schedule=schedule,
        artifact=texts["artifact"],
        description=texts["description"] or "",
        matrix_dir=matrix_dir,
    )
    _check_templates(definition.command, ["command"])
    for axis_name, by_value in definition.args.items():
        _check_templates([a for argv in by_value.values() for a in argv], ["args", axis_name])
    for key in ("cwd", "schedule", "artifact"):
        _check_templates([t for t in [getattr(definition, key)] if t], [key])
    _check_templates(list(definition.env.values()), ["env"])
    return definition


def axis_named_default(axis_name: Any, path: Sequence[str]) -> Any:
    """The default of the axis called ``axis_name`` (DefinitionError if there is no such axis)."""
    try:
        return axis_named(str(axis_name)).default
    except ValueError as exc:
        raise DefinitionError(str(exc), [*path, str(axis_name)]) from None


def without_env_values(source: str) -> str:
    """The matrix text with every `runners.*.env` value replaced by ENV_NOT_STORED (names, comments and
    layout kept), for the copy of the matrix a run directory keeps."""
    try:
        root: Any = yaml.compose(source, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return source
    spans: list[tuple[int, int]] = []
    for runners_key, runners in getattr(root, "value", []) if isinstance(root, yaml.MappingNode) else []:
        if runners_key.value != "runners" or not isinstance(runners, yaml.MappingNode):
            continue
        for _name, body in runners.value:
            for key, env in body.value if isinstance(body, yaml.MappingNode) else []:
                if key.value == "env" and isinstance(env, yaml.MappingNode):
                    spans += [(v.start_mark.index, v.end_mark.index) for _k, v in env.value]
    for start, end in sorted(spans, reverse=True):
        source = source[:start] + f'"{ENV_NOT_STORED}"' + source[end:]
    return source


def parse_runners(raw: Any, matrix_dir: str | None = None) -> dict[str, RunnerDefinition]:
    """The whole `runners:` section; DefinitionError's path starts with the runner's name."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise DefinitionError("runners maps names to runner definitions")
    definitions = {}
    for name, body in raw.items():
        try:
            definitions[str(name)] = parse_definition(str(name), body, matrix_dir)
        except DefinitionError as exc:
            raise DefinitionError(str(exc), [str(name), *exc.path]) from None
    return definitions
