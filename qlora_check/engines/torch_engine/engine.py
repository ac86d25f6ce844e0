"""TorchEngine: one cell on cpu, cuda or mps, from checkpoint to checks.

Phases (memory and time are measured per phase): load (checkpoint, data; the base when unquantized),
quantize (the quantizer's own load path), adapters (training type, optimizer), train. Checks are
computed around them: identity_init and trainable before training, frozen_base, finite, learned,
lr_schedule, optimizer_8bit and checkpoint after.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Iterator
from typing import Any

import torch

from qlora_check.engines import checks as shared
from qlora_check.engines.interface import CellContext, Engine, EngineOutput
from qlora_check.engines.memory import MemoryTracker
from qlora_check.engines.torch_engine import adapters, checks, measure, merge, models
from qlora_check.engines.torch_engine.base import load_base
from qlora_check.engines.torch_engine.device_memory import DevicePeaks
from qlora_check.engines.torch_engine.inputs import CellInputs, prepare_inputs
from qlora_check.engines.torch_engine.optim import build_optimizer, build_scheduler
from qlora_check.engines.torch_engine.precision import PrecisionPlan, precision_plan
from qlora_check.engines.torch_engine.quantize import load_quantizer
from qlora_check.engines.torch_engine.spec import SPEC
from qlora_check.engines.torch_engine.train import train
from qlora_check.matrix.cell import Cell
from qlora_check.quantizers import QUANTIZERS
from qlora_check.results.models import CheckResult
from qlora_check.torch_models import without_layers

MAX_RECORDED_WARNINGS = 20


class TorchEngine(Engine):
    name = "torch"

    def run(self, cell: Cell, context: CellContext) -> EngineOutput:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("default")
            output = _CellRun(cell.values, context).run()
        messages = list(dict.fromkeys(f"{w.category.__name__}: {w.message}" for w in caught))
        output.info["warnings"] = messages[:MAX_RECORDED_WARNINGS]
        return output


class _CellRun:
    """The state of one cell's run, so the phases can be small methods."""

    def __init__(self, values: dict[str, Any], context: CellContext) -> None:
        self.values = values
        self.context = context
        self.device = torch.device(str(values["backend"]))
        self.precision = str(values["precision"])
        self.plan: PrecisionPlan = precision_plan(self.precision, str(values["adapter_dtype"]))
        self.memory = MemoryTracker()
        self.device_peaks = DevicePeaks(self.device)
        self.timings: dict[str, float] = {}
        self.checks: list[CheckResult] = []
        self.info: dict[str, Any] = {}

    @contextlib.contextmanager
    def _phase(self, name: str) -> Iterator[None]:
        """Time a phase and measure its peak host and device memory."""
        started = time.perf_counter()
        with self.memory.phase(name), self.device_peaks.phase(name):
            yield
        self.timings[f"{name}_s"] = time.perf_counter() - started

    def run(self) -> EngineOutput:
        values = self.values
        torch.manual_seed(int(values["seed"]))
        # An unquantized base is part of "load"; a quantized one gets its own phase (some families quantize
        # while loading, others after loading: both inside that phase).
        quantized = values["quantizer"] != "none"
        with self._phase("load"):
            inputs = prepare_inputs(values, self.context.work_dir)
            if not quantized:
                model, quantization = load_base(inputs.checkpoint, values, self.plan, self.device)
        if quantized:
            with self._phase("quantize"):
                model, quantization = load_base(inputs.checkpoint, values, self.plan, self.device, inputs.skip_layers)
        self.info["quantization"] = quantization
        if quantized:
            self.checks.append(
                shared.quantized_check(
                    True, quantization["modules"], quantization["quantized_bytes"], quantization["unquantized_bytes"]
                )
            )
        reference = None if inputs.expansion else measure.logits(model, inputs.eval_batch, self.plan, self.device)

        with self._phase("adapters"):
            adapted = adapters.apply_training_type(model, values, inputs.expansion)
            model = adapted.model
            self.plan.apply(model)
            if values["gradient_checkpointing"]:
                model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})  # type: ignore[operator]
            trainable = [p for p in model.parameters() if p.requires_grad]
            optimizer, optimizer_settings, optimizer_check = build_optimizer(
                str(values["optimizer"]), trainable, float(values["lr"]), float(values["weight_decay"])
            )
            warmup = shared.warmup_steps(float(values["warmup"]), int(values["steps"]))
            scheduler = build_scheduler(str(values["scheduler"]), optimizer, int(values["steps"]), warmup)
        self._pre_training_checks(adapted, reference, inputs)
        frozen_before = measure.frozen_hashes(model) if adapted.kind != "full" else {}

        with self._phase("train"):
            record = train(
                model,
                inputs.batches,
                optimizer,
                scheduler,
                self.plan,
                grad_accum=int(values["grad_accum"]),
                max_grad_norm=float(values["max_grad_norm"]),
                device=self.device,
            )
        self.timings["train_s"] = record.train_s
        self.timings["step_s"] = record.train_s / max(1, len(record.losses))

        self.checks.append(shared.finite_check(record.losses))
        self.checks.append(shared.learned_check(record.losses, self.context.learned_margin))
        expected = shared.expected_lrs(str(values["scheduler"]), float(values["lr"]), int(values["steps"]), warmup)
        self.checks.append(shared.lr_schedule_check(record.lrs, expected))
        if adapted.kind != "full":
            self.checks.append(shared.frozen_base_check(frozen_before, measure.frozen_hashes(model)))
        if optimizer_check is not None:
            self.checks.append(optimizer_check(optimizer))
        self.checks.append(self._checkpoint(adapted, inputs))
        if self.device.type != "cpu":
            self.checks.append(checks.device_transfer_check(inputs.unexpanded, inputs.eval_batch, self.device))

        self.info.update(
            device=str(self.device),
            threads=torch.get_num_threads(),
            versions=_versions(),
            model=inputs.model_info,
            dataset=inputs.dataset_info,
            training={"type": values["train_type"], "kind": adapted.kind, **adapted.info},
            parameters={**adapters.count_parameters(model), "frozen_bytes": measure.frozen_bytes(model)},
            optimizer=optimizer_settings,
            scheduler={"name": values["scheduler"], "warmup_steps": warmup},
            precision={
                "param_dtype": str(self.plan.param_dtype),
                "autocast": str(self.plan.autocast_dtype) if self.plan.autocast_dtype else None,
                "fp32_buffers": self.plan.fp32_buffers,
                "grad_scaler": self.plan.grad_scaler,
                "adapter_dtype": str(self.plan.adapter_dtype),
            },
        )
        if adapted.kind in ("peft", "custom") and reference is not None:
            self.checks.append(self._merge(adapted, inputs, reference, quantized))
        memory = {**self.memory.to_dict(), **self.device_peaks.to_dict()}
        return EngineOutput(
            losses=record.losses,
            lrs=record.lrs,
            checks=self.checks,
            memory=memory,
            timings=self.timings,
            tokens_per_s=record.tokens / record.train_s if record.train_s > 0 else None,
            info=self.info,
        )

    def _pre_training_checks(
        self, adapted: adapters.Adapted, reference: torch.Tensor | None, inputs: CellInputs
    ) -> None:
        actual = adapters.count_parameters(adapted.model)["trainable"]
        self.checks.append(shared.trainable_check(actual, adapted.expected_trainable, adapted.rule))
        if adapted.kind == "llama_pro" and inputs.expansion is not None:
            expanded = measure.logits(adapted.model, inputs.eval_batch, self.plan, self.device)

            with without_layers(adapted.model, inputs.expansion.new_layers):
                original = measure.logits(adapted.model, inputs.eval_batch, self.plan, self.device)
            what = "logits of the expanded and the original blocks"
            self.checks.append(checks.identity_init_check(original, expanded, self.precision, what))
        elif adapted.kind != "full" and reference is not None:
            adapted_logits = measure.logits(adapted.model, inputs.eval_batch, self.plan, self.device)
            what = "logits of the base and the adapted model"
            self.checks.append(checks.identity_init_check(reference, adapted_logits, self.precision, what))
        if self.values["grad_accum_check"]:
            accumulate = max(2, int(self.values["grad_accum"]))
            self.checks.append(
                checks.grad_accum_check(
                    adapted.model, inputs.batches[0], accumulate, self.plan, self.device, self.precision
                )
            )

    def _checkpoint(self, adapted: adapters.Adapted, inputs: CellInputs) -> CheckResult:
        started = time.perf_counter()
        directory = self.context.work_dir / "trained"
        trained_loss = measure.eval_loss(adapted.model, inputs.eval_batch, self.plan, self.device)
        files = checks.save_trained(adapted, directory)

        def fresh_base() -> torch.nn.Module:
            return load_base(inputs.checkpoint, self.values, self.plan, self.device, inputs.skip_layers)[0]

        def fresh_adapted() -> adapters.Adapted:
            fresh = adapters.apply_training_type(fresh_base(), self.values, inputs.expansion)
            self.plan.apply(fresh.model)
            return fresh

        reloaded = checks.load_trained(adapted, directory, fresh_adapted, fresh_base, self.plan, self.device)
        reloaded_loss = measure.eval_loss(reloaded, inputs.eval_batch, self.plan, self.device)
        if adapted.kind in ("peft", "custom"):
            trained = measure.logits(adapted.model, inputs.eval_batch, self.plan, self.device)
            fresh = measure.logits(reloaded, inputs.eval_batch, self.plan, self.device)
            path = "peft save_pretrained -> PeftModel.from_pretrained" if adapted.kind == "peft" else "safetensors"
            self.checks.append(merge.adapter_reload_check(trained, fresh, self.precision, path))
        self.timings["checkpoint_s"] = time.perf_counter() - started
        return checks.checkpoint_check(trained_loss, reloaded_loss, self.precision, files)

    def _merge(self, adapted: adapters.Adapted, inputs: CellInputs, base: torch.Tensor, quantized: bool) -> CheckResult:
        """Last, since it changes the model in place: merge the adapters and compare logits."""
        started = time.perf_counter()
        try:
            return self._merge_paths(adapted, inputs, base, quantized)
        except merge.MergeUnsupported as exc:
            return merge.merge_skipped(str(exc))
        finally:
            self.timings["merge_s"] = time.perf_counter() - started

    def _merge_paths(
        self, adapted: adapters.Adapted, inputs: CellInputs, base: torch.Tensor, quantized: bool
    ) -> CheckResult:
        def logits_of(model: torch.nn.Module) -> torch.Tensor:
            return measure.logits(model, inputs.eval_batch, self.plan, self.device)

        trained = logits_of(adapted.model)
        if not quantized:
            merged_model, path = merge.merge_adapters(adapted, quantized=False)
            return merge.merge_check(logits_of(merged_model), trained, base, self.precision, False, path)

        def plain_base() -> torch.nn.Module:
            plain = models.load(inputs.checkpoint, self.plan.param_dtype).to(self.device)
            self.plan.apply(plain)
            return plain

        quantizer = load_quantizer(str(self.values["quantizer"]))
        dequantized: torch.Tensor | None = None
        path = ""
        try:
            merged_model, path = merge.dequantized_merge(adapted, quantizer, plain_base)
            self.plan.apply(merged_model)
            dequantized = logits_of(merged_model)
        except merge.MergeUnsupported:
            if adapted.kind != "peft":
                raise
        in_place = None
        if adapted.kind == "peft":  # the library's own merge into the quantized layer (changes the model)
            requantized, in_place_path = merge.merge_adapters(adapted, quantized=True)
            in_place = (logits_of(requantized), in_place_path)
        merged = dequantized if dequantized is not None else trained
        return merge.merge_check(merged, trained, base, self.precision, True, path, in_place)


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found: dict[str, str] = {}
    families = (family.pip_name for _, family in QUANTIZERS.items() if SPEC.name in family.engines)
    for name in (*SPEC.libraries, *families):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found
