"""The typed registry: lazy targets, the base-class check, did-you-mean, and entry points."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from qlora_check.engines import ENGINES, engine_for_backend
from qlora_check.errors import UnknownNameError
from qlora_check.quantizers import QUANTIZERS
from qlora_check.quantizers.interface import QuantizerSpec
from qlora_check.registry import Registry, RegistryError
from qlora_check.runners import RUNNERS

PLUGIN = Path(__file__).resolve().parents[1] / "plugins" / "toyq"


def test_builtin_entries_load_as_their_kind() -> None:
    assert [name for name, _ in QUANTIZERS.items()][:4] == ["bnb", "hqq", "quanto", "mlx"]
    assert {name for name, _ in ENGINES.items()} >= {"torch", "mlx"}
    assert engine_for_backend("mps").name == "torch" and engine_for_backend("mlx").name == "mlx"
    assert RUNNERS.get("builtin").name == "builtin"


def test_an_unknown_name_suggests_the_closest() -> None:
    with pytest.raises(UnknownNameError, match="Did you mean 'quanto'"):
        QUANTIZERS.get("qanto")


def test_a_target_of_the_wrong_kind_is_refused() -> None:
    registry: Registry[QuantizerSpec] = Registry(
        "thing", QuantizerSpec, {"x": "qlora_check.engines.torch_engine.spec:SPEC"}
    )
    with pytest.raises(RegistryError, match="is a EngineSpec, not a QuantizerSpec"):
        registry.get("x")
    broken: Registry[QuantizerSpec] = Registry("thing", QuantizerSpec, {"y": "qlora_check.no_such_module:SPEC"})
    with pytest.raises(RegistryError, match="cannot load"):
        broken.get("y")


def test_entry_points_of_an_installed_plugin_are_found(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(PLUGIN))
    registry: Registry[QuantizerSpec] = Registry(
        "quantizer family", QuantizerSpec, {"bnb": "qlora_check.quantizers.bnb:SPEC"}, group="qlora_check.quantizers"
    )
    assert registry.names() == ["bnb", "toyq"]
    assert registry.get("toyq").values == ("toyq-8bit",)
    sys.modules.pop("qlora_check_toyq", None)
