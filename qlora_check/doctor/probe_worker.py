"""Subprocess entry point: ``python -m qlora_check.doctor.probe_worker REQUEST.json RESULT.json``.

Requests: ``{"mode": "devices"}`` (what torch and mlx see) or ``{"mode": "probe", "backend": ..,
"family": ..}`` (the probe of the engine serving the backend: the family's own quantize code, forward and
backward through a LoRA adapter). The answer goes to RESULT.json; an import that fails is ``missing``, any
other exception is ``error`` with the library's own message. Only this process imports torch or mlx.
"""

from __future__ import annotations

import importlib
import json
import sys
import traceback
from pathlib import Path
from typing import Any

from qlora_check.doctor.models import ProbeStatus, family_variant
from qlora_check.engines import engine_for_backend
from qlora_check.libraries import tracked_libraries

_HINTS = {library.module.split(".")[0]: (library.distribution, library.hint) for library in tracked_libraries()}


def probe(backend: str, family: str) -> dict[str, Any]:
    """Run one probe and describe how it went (never raises)."""
    base: dict[str, Any] = {"backend": backend, "family": family, "variant": family_variant(family)}
    try:
        module_name, _, attribute = engine_for_backend(backend).probe.partition(":")
        run_probe = getattr(importlib.import_module(module_name), attribute)
        details: dict[str, Any] = run_probe(backend, family)
    except Exception as exc:
        return {**base, **_failure(root_cause(exc))}
    problem = details.pop("problem", "")
    status = ProbeStatus.FAIL if problem else ProbeStatus.PASS
    return {**base, "status": status, "reason": problem, "details": details}


def root_cause(exc: BaseException) -> BaseException:
    """The exception a library raised, under the wrappers that re-raise it (transformers' lazy imports turn a
    library's own import failure into their ModuleNotFoundError ``from`` it)."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return exc


def _failure(exc: BaseException) -> dict[str, Any]:
    """``missing`` for a library that cannot be imported (with its install hint), else ``error``."""
    if isinstance(exc, ModuleNotFoundError):
        top = (exc.name or "").split(".")[0]
        if top in _HINTS:
            distribution, hint = _HINTS[top]
            reason = f"{distribution} is not importable ({exc}); {hint}"
            return {"status": ProbeStatus.MISSING, "reason": reason, "error_type": type(exc).__name__}
    return _error(exc)


def _error(exc: BaseException) -> dict[str, Any]:
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    tail = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)[-3:])
    return {
        "status": ProbeStatus.ERROR,
        "reason": f"{type(exc).__name__}: {message}"[:500],
        "error_type": type(exc).__name__,
        "details": {"traceback_tail": tail[-2000:]},
    }


def main(argv: list[str]) -> int:
    request = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    if request["mode"] == "devices":
        from qlora_check.doctor.device_info import describe_devices

        answer = describe_devices()
    else:
        answer = probe(request["backend"], request["family"])
    Path(argv[1]).write_text(json.dumps(answer, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
