"""Which cells can run: invalid by definition (n/a) or impossible on this host (skip).

The n/a rules are read from the engine and quantizer specs, so a new engine or family brings its own.
`HostCapabilities` is what this host has; doctor builds it (`doctor.host_view.detect_host_capabilities`)
from its cheap detection and cached probe verdicts: nothing here detects or probes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from qlora_check.engines import ENGINES, engine_for_backend
from qlora_check.engines.interface import EngineSpec
from qlora_check.matrix.axes import QUANTIZED_TRAIN_TYPES, UNQUANTIZED_TRAIN_TYPES
from qlora_check.matrix.cell import Cell
from qlora_check.matrix.runners import BUILTIN, RunnerDefinition
from qlora_check.quantizers import family_for_optimizer, family_of
from qlora_check.runners.command_rules import not_applicable_reason as command_not_applicable_reason

PLAIN = "none"  # the probe family of unquantized cells
QUANTIZED_COUNTERPART = {"lora": "qlora", "custom_lora": "custom_qlora", "dora": "qdora"}


def not_applicable_reason(cell: Cell, runners: Mapping[str, RunnerDefinition] | None = None) -> str | None:
    """Why a cell is invalid by definition, or None when it is a meaningful combination.

    A command runner's cells answer to that runner's `supports:` only: the engines' and quantizers' rules
    describe qlora-check's own loop, not the user's trainer.
    """
    values = cell.typed
    if values.runner != BUILTIN:
        definition = (runners or {}).get(values.runner)
        if definition is None:
            return f"runner {values.runner} is not defined in this matrix' runners:"
        return command_not_applicable_reason(cell, definition)
    train_type, quantizer = values.train_type, values.quantizer
    if train_type in QUANTIZED_TRAIN_TYPES and quantizer == "none":
        return f"{train_type} trains adapters on a quantized base, and quantizer is none"
    if train_type in UNQUANTIZED_TRAIN_TYPES and quantizer != "none":
        quantized = QUANTIZED_COUNTERPART.get(train_type)
        instead = f"; use {quantized}" if quantized else ""
        return f"{train_type} trains an unquantized base, and quantizer is {quantizer}{instead}"
    engine = engine_for_backend(values.backend)
    family = family_of(quantizer)
    if family is not None and engine.name not in family.engines:
        owners = _titles(family.engines)
        where = f"the {engine.title} engine ({values.backend})"
        return f"{quantizer} is {_article(owners)} {owners} quantizer; {where} cannot use it"
    if family is not None and train_type not in family.train_types:
        return f"{family.title} does not pair with {train_type} (it runs: {', '.join(family.train_types)})"
    if family is not None and family.backends is not None and values.backend not in family.backends:
        return f"{family.title} does not run on {values.backend} (it runs on: {', '.join(family.backends)})"
    return _engine_reason(engine, values.train_type, values.precision, values.optimizer)


def _engine_reason(engine: EngineSpec, train_type: str, precision: str, optimizer: str) -> str | None:
    if train_type not in engine.train_types:
        owners = _titles(name for name, spec in ENGINES.items() if train_type in spec.train_types)
        return f"{train_type} is a {owners}-only training type ({engine.name}: {', '.join(engine.train_types)})"
    if precision not in engine.precisions:
        owners = _titles(name for name, spec in ENGINES.items() if precision in spec.precisions)
        return f"precision {precision} is {owners}-only ({engine.name} cells use {', '.join(engine.precisions)})"
    provider = family_for_optimizer(optimizer)
    if provider is not None and engine.name not in provider.engines:
        return f"{optimizer} is a {provider.title} optimizer ({_titles(provider.engines)} only)"
    if provider is None and optimizer not in engine.optimizers:
        return f"{optimizer} is not an optimizer of the {engine.title} engine ({', '.join(engine.optimizers)})"
    return None


def _titles(engine_names: Iterable[str]) -> str:
    return "/".join(ENGINES.get(name).title for name in engine_names)


def _article(word: str) -> str:
    """'an' before a vowel sound: 'an MLX quantizer', 'a torch quantizer'."""
    return "an" if word[:1].lower() in "aeiou" or (word.isupper() and word[:1] in "AEFHILMNORSX") else "a"


@dataclass(frozen=True)
class HostCapabilities:
    """What this host has, as far as it can be told without importing heavy libraries.

    ``modules``: importable module name -> present. ``backend_reasons`` says why each absent backend is
    absent. ``probe_failures`` maps (backend, family) to the error of a cached doctor probe that failed there.
    """

    modules: dict[str, bool]
    cuda_devices: int
    mps: bool
    notes: dict[str, str] = field(default_factory=dict)
    backend_reasons: dict[str, str] = field(default_factory=dict)
    probe_failures: dict[tuple[str, str], str] = field(default_factory=dict)

    def skip_reason(self, cell: Cell) -> str | None:
        """Why this host cannot run the cell, or None when it can."""
        values = cell.typed
        backend = values.backend
        if values.runner != BUILTIN:  # the trainer's own exit is the verdict; only the device must exist
            return self._device_reason(backend)
        engine = engine_for_backend(backend)
        for requirement in engine.requires:
            if not self.modules.get(requirement.module, False):
                return f"{requirement.module} is not installed ({requirement.hint})"
        if backend in self.backend_reasons:
            return self.backend_reasons[backend]
        if backend == "cuda" and self.cuda_devices == 0:
            return "no CUDA device on this host (nvidia-smi lists none)"
        if backend == "mps" and not self.mps:
            return "no Apple Metal (MPS) device on this host"
        if values.world_size > 1:
            return "world_size > 1 (multi-process FSDP cells) is not implemented by qlora-check's engines yet"
        for family in (family_of(values.quantizer), family_for_optimizer(values.optimizer)):
            if family is not None and not self.modules.get(family.import_name, False):
                return f"{family.pip_name} is not installed ({family.install_hint})"
        probe_reason = self.probe_failure(backend, values.quantizer)
        if probe_reason:
            return probe_reason
        model = values.model
        if model.startswith(("/", "./", "../", "~")) and not Path(model).expanduser().exists():
            return f"model path {model} does not exist on this host"
        return None

    def _device_reason(self, backend: str) -> str | None:
        if backend == "cuda" and self.cuda_devices == 0:
            return "no CUDA device on this host (nvidia-smi lists none)"
        if backend == "mps" and not self.mps:
            return "no Apple Metal (MPS) device on this host"
        return None

    def probe_failure(self, backend: str, quantizer: str) -> str | None:
        """The cached doctor probe's error when ``backend`` (plain) or ``quantizer``'s family failed there."""
        plain = self.probe_failures.get((backend, PLAIN))
        if plain:
            return f"doctor: plain LoRA forward/backward fails on {backend}: {plain}"
        family = family_of(quantizer)
        failure = self.probe_failures.get((backend, family.family)) if family is not None else None
        if failure and family is not None:
            return f"doctor: the {family.family} probe fails on {backend}: {failure}"
        return None
