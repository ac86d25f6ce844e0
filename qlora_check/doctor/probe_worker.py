"""Subprocess entry point: ``python -m qlora_check.doctor.probe_worker REQUEST.json RESULT.json``.

Requests: ``{"mode": "devices"}`` (what torch and mlx see) or ``{"mode": "probe", "backend": ..,
"family": ..}`` (quantize a small linear layer, forward and backward through a LoRA adapter). The
answer goes to RESULT.json; an import that fails is ``missing``, any other exception is ``error``
with the library's own message. Only this process imports torch or mlx.
"""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path
from typing import Any

from qlora_check.doctor.detect import LIBRARIES
from qlora_check.doctor.models import FAMILY_VARIANT, ProbeStatus

_HINTS = {module.split(".")[0]: (distribution, hint) for distribution, module, hint in LIBRARIES}


def probe(backend: str, family: str) -> dict[str, Any]:
    """Run one probe and describe how it went (never raises)."""
    base: dict[str, Any] = {"backend": backend, "family": family, "variant": FAMILY_VARIANT.get(family, family)}
    try:
        if backend == "mlx":
            from qlora_check.doctor.probe_mlx import run_probe
        else:
            from qlora_check.doctor.probe_torch import run_probe
        details = run_probe(backend, family)
    except ModuleNotFoundError as exc:
        top = (exc.name or "").split(".")[0]
        if top not in _HINTS:
            return {**base, **_error(exc)}
        distribution, hint = _HINTS[top]
        reason = f"{distribution} is not importable ({exc}); {hint}"
        return {**base, "status": ProbeStatus.MISSING, "reason": reason, "error_type": type(exc).__name__}
    except Exception as exc:
        return {**base, **_error(exc)}
    problem = details.pop("problem", "")
    status = ProbeStatus.FAIL if problem else ProbeStatus.PASS
    return {**base, "status": status, "reason": problem, "details": details}


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
