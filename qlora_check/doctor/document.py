"""The doctor's JSON document as other parts consume it (a Ray node's resources): fresh, or from a file
written by `qlora-check doctor --json` (run once, reused; also how tests give a node a chosen offer)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from qlora_check.doctor.service import DoctorOptions, run_doctor
from qlora_check.errors import QloraCheckError

TIP = "write one with: qlora-check doctor --json > FILE"


def doctor_document(path: Path | None = None, options: DoctorOptions | None = None) -> dict[str, Any]:
    """``path``'s document when given, else the doctor's own answer now (cached probe verdicts reused)."""
    if path is None:
        return run_doctor(options or DoctorOptions()).to_dict()
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise QloraCheckError(f"{path}: not a readable doctor document: {exc}", tip=TIP) from None
    if not isinstance(document, dict):
        raise QloraCheckError(f"{path}: a doctor document is a JSON object", tip=TIP)
    return document
