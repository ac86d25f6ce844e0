"""Metrics readers: name -> the module that parses that trainer's output (imported on first use).

In a matrix a runner names its reader as ``metrics: hf`` or, for readers with options,
``metrics: {regex: '(?P<step>\\d+) (?P<loss>[\\d.]+)', file: 'logs/*.txt'}`` (the same as
``metrics: {reader: regex, pattern: ..., file: ...}``).
"""

from __future__ import annotations

from collections.abc import Mapping

from qlora_check.errors import UnknownNameError
from qlora_check.registry import Registry, RegistryError
from qlora_check.runners.readers.interface import MetricsReader, ReaderError

_PACKAGE = "qlora_check.runners.readers"
READERS: Registry[MetricsReader] = Registry(
    "metrics reader",
    MetricsReader,  # type: ignore[type-abstract]  # an ABC: entries are instances of its subclasses
    {
        "jsonl": f"{_PACKAGE}.jsonl:READER",
        "hf": f"{_PACKAGE}.hf:READER",
        "mlx-lm": f"{_PACKAGE}.mlx_lm:READER",
        "llamafactory": f"{_PACKAGE}.llamafactory:READER",
        "torchtune": f"{_PACKAGE}.torchtune:READER",
        "fsdp-qlora": f"{_PACKAGE}.fsdp_qlora:READER",
        "regex": f"{_PACKAGE}.regex:READER",
    },
)


def reader_config(value: object) -> tuple[str, dict[str, str]]:
    """(name, options) from a matrix' ``metrics:`` value; ReaderError when its shape is wrong."""
    if isinstance(value, str):
        return value.strip(), {}
    if isinstance(value, Mapping) and value and all(isinstance(key, str) for key in value):
        options = {key: str(item) for key, item in value.items()}
        if "reader" in options:
            return options.pop("reader"), options
        named = [key for key in options if key in READERS]
        if len(named) == 1:  # {regex: PATTERN}: the reader's name carries its main option
            name = named[0]
            return name, {("pattern" if name == "regex" else name): options.pop(name), **options}
    raise ReaderError(
        f"metrics takes a reader name ({', '.join(READERS.names())}) or a mapping such as {{regex: PATTERN}}, "
        f"not {value!r}"
    )


def make_reader(value: object) -> MetricsReader:
    """The reader a ``metrics:`` value names, configured; ReaderError/UnknownNameError for bad input."""
    name, options = reader_config(value)
    try:
        reader = READERS.get(name)
    except (UnknownNameError, RegistryError) as error:
        raise ReaderError(error.message) from None
    return reader.configure(options)
