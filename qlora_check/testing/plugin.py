"""The pytest plugin (entry point ``pytest11``): matrices as test items, host markers, fixtures.

- ``pytest --qlora-matrix matrices/smoke.yaml``: every cell of the matrix becomes one test item whose name
  is the cell id (`qlora_check.testing.cells`); ``-n`` (pytest-xdist) distributes them; ``-k`` matches axis
  values (``-k bnb-nf4``).
- ``@pytest.mark.qlora_backend("cuda")`` / ``@pytest.mark.qlora_quantizer("bnb")``: skip a test where this
  host cannot run that backend or quantizer, with doctor's reason.
- fixtures ``qlora_tiny_model``, ``qlora_tokenizer``, ``qlora_memory`` (see docs/testing.md).

Collection imports no torch (``pytest --co`` stays fast): the cells import it in their own processes, the
fixtures when a test asks for them.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest

from qlora_check.testing.cells import RUNTIME_KEY, CellRuntime, MatrixFile
from qlora_check.testing.markers import skip_reason
from qlora_check.testing.memory import MemoryStats, memory_tracker

MATRIX_PATHS_KEY = pytest.StashKey[list[Path]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("qlora-check", "qlora-check: matrix cells as tests")
    group.addoption(
        "--qlora-matrix",
        action="append",
        default=[],
        metavar="MATRIX",
        help="run every cell of this matrix YAML as a test item (repeatable)",
    )
    group.addoption(
        "--qlora-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="per-cell timeout (default: the matrix's)",
    )
    group.addoption(
        "--qlora-log-dir",
        default=None,
        metavar="DIR",
        help="where the cells' logs go (default: a new temporary directory)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "qlora_backend(name): skip unless this host runs LoRA cells on that backend")
    config.addinivalue_line(
        "markers", "qlora_quantizer(name, backend=None): skip unless that quantizer works on this host"
    )
    paths = [Path(path).expanduser().resolve() for path in config.getoption("qlora_matrix") or []]
    config.stash[MATRIX_PATHS_KEY] = paths
    log_dir = config.getoption("qlora_log_dir")
    config.stash[RUNTIME_KEY] = CellRuntime(Path(log_dir) if log_dir else None, config.getoption("qlora_timeout"))
    # The matrices are collected like test files given on the command line.
    known = {Path(arg.split("::")[0]).resolve() for arg in config.args}
    config.args.extend(str(path) for path in paths if path not in known)


def pytest_unconfigure(config: pytest.Config) -> None:
    runtime = config.stash.get(RUNTIME_KEY, None)
    if runtime is not None:
        runtime.close()


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.resolve() in parent.config.stash.get(MATRIX_PATHS_KEY, []):
        collector: pytest.Collector = MatrixFile.from_parent(parent, path=file_path)
        return collector
    return None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Skip, with doctor's reason, tests marked for a backend or quantizer this host cannot run (a skip marker,
    so the report points at the test; doctor's answer is cached, and nothing here imports torch)."""
    for item in items:
        reason = marker_skip_reason(item)
        if reason:
            item.add_marker(pytest.mark.skip(reason=reason))


def marker_skip_reason(item: pytest.Item) -> str | None:
    """Why this host cannot run what the item's ``qlora_backend`` / ``qlora_quantizer`` markers ask for."""
    backend_marker = item.get_closest_marker("qlora_backend")
    backend = str(backend_marker.args[0]) if backend_marker and backend_marker.args else None
    if backend is not None and (reason := skip_reason(backend)):
        return reason
    for marker in item.iter_markers("qlora_quantizer"):
        quantizer = str(marker.args[0]) if marker.args else "none"
        on = marker.kwargs.get("backend") or backend or ("mlx" if quantizer.lower().startswith("mlx") else "cpu")
        if reason := skip_reason(str(on), quantizer):
            return reason
    return None


def _marked(request: pytest.FixtureRequest) -> dict[str, Any]:
    """tiny_model arguments from the test's markers, then from indirect parametrization (a dict)."""
    arguments: dict[str, Any] = {}
    backend = request.node.get_closest_marker("qlora_backend")
    if backend and backend.args:
        arguments["backend"] = str(backend.args[0])
    quantizer = request.node.get_closest_marker("qlora_quantizer")
    if quantizer and quantizer.args:
        arguments["quantizer"] = str(quantizer.args[0])
        arguments.setdefault("backend", quantizer.kwargs.get("backend") or arguments.get("backend", "cpu"))
    param = getattr(request, "param", None)
    if isinstance(param, dict):
        arguments.update(param)
    return arguments


@pytest.fixture
def qlora_tiny_model(request: pytest.FixtureRequest) -> Any:
    """A real tiny model prepared for LoRA (QLoRA when a ``qlora_quantizer`` marker names a quantizer), on the
    ``qlora_backend`` marker's backend (cpu without one); indirect parametrization passes `tiny_model`
    arguments as a dict."""
    from qlora_check.testing.models import tiny_model

    arguments = _marked(request)
    arguments.setdefault("train_type", "qlora" if arguments.get("quantizer") else "lora")
    return tiny_model(**arguments)


@pytest.fixture
def qlora_tokenizer() -> Any:
    """A trained byte-level BPE tokenizer (`tiny_tokenizer`), a fresh object per test."""
    from qlora_check.testing.tokenizer import tiny_tokenizer

    return tiny_tokenizer()


@pytest.fixture
def qlora_memory(request: pytest.FixtureRequest) -> Callable[..., AbstractContextManager[MemoryStats]]:
    """`memory_tracker` for the test's ``qlora_backend`` (cpu without one): ``with qlora_memory() as stats:``."""
    default = _marked(request).get("backend", "cpu")

    def track(backend: str | None = None) -> AbstractContextManager[MemoryStats]:
        return memory_tracker(backend or default)

    return track
