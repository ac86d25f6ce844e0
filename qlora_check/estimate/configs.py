"""Model configs the estimate builds from: the shipped public ones, or a user's config.json / model folder."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qlora_check.estimate.request import EstimateError

BUILTIN_DIR = Path(__file__).resolve().parent.parent / "data" / "model_configs"


@dataclass(frozen=True)
class ModelConfig:
    """A model's config.json values (without private keys) and where they came from."""

    name: str
    values: dict[str, Any]
    source: str

    @property
    def layers(self) -> int:
        return int(self.values["num_hidden_layers"])

    @property
    def vocab_size(self) -> int:
        return int(self.values["vocab_size"])


def builtin_names() -> list[str]:
    """Names of the shipped configs (``llama-3-8b`` …)."""
    return sorted(path.stem for path in BUILTIN_DIR.glob("*.json"))


def load_config(model: str) -> ModelConfig:
    """A built-in name, a config.json path, or a folder holding one."""
    builtin = BUILTIN_DIR / f"{model}.json"
    if builtin.is_file():
        return _read(model, builtin)
    path = Path(model).expanduser()
    if path.is_dir():
        path = path / "config.json"
    if path.is_file():
        return _read(path.parent.name if path.name == "config.json" else path.stem, path)
    raise EstimateError(
        f"unknown model {model!r}: not a built-in config, a config.json or a model folder",
        tip=f"built-in configs: {', '.join(builtin_names())}",
    )


def _read(name: str, path: Path) -> ModelConfig:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise EstimateError(f"cannot read model config {path}: {exc}") from None
    if not isinstance(raw, dict) or "model_type" not in raw or "num_hidden_layers" not in raw:
        raise EstimateError(f"{path} is not a decoder model config (no model_type / num_hidden_layers)")
    source = str(raw.get("_source", path))
    values = {key: value for key, value in raw.items() if not key.startswith("_")}
    return ModelConfig(name=name, values=values, source=source)
