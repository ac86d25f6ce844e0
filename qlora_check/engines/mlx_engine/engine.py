"""MlxEngine: one cell on MLX (Metal, CUDA or CPU, whatever ``mx.default_device()`` is), load to checks."""

from __future__ import annotations

import time
from typing import Any

import mlx.core as mx
import numpy as np
from mlx.utils import tree_flatten

from qlora_check.engines.checks import finite_check, learned_check
from qlora_check.engines.data import load_batches
from qlora_check.engines.interface import CellContext, Engine, EngineOutput
from qlora_check.engines.memory import MIB, MemoryTracker
from qlora_check.engines.mlx_engine import adapters, checks, merge, models, optim, schedules
from qlora_check.engines.mlx_engine.parity import run_parity
from qlora_check.engines.mlx_engine.runtime import import_mlx_lm, runtime_info
from qlora_check.engines.mlx_engine.train import enable_gradient_checkpointing, eval_loss, train
from qlora_check.matrix.cell import Cell
from qlora_check.quantizers.mlx import block_linears, quantize
from qlora_check.results.models import CheckResult


class MlxEngine(Engine):
    name = "mlx"

    def run(self, cell: Cell, context: CellContext) -> EngineOutput:
        values: dict[str, Any] = cell.values
        mx.random.seed(values["seed"])
        timings: dict[str, float] = {}
        started = time.perf_counter()
        import_mlx_lm()  # before the memory baseline: its imports (transformers, torch) are not the model's
        timings["import_s"] = time.perf_counter() - started
        memory = MemoryTracker()
        mx.reset_peak_memory()
        output_checks: list[CheckResult] = []

        started = time.perf_counter()
        with memory.phase("load"):
            checkpoint = models.materialise(values["model"], values["seed"], context.work_dir / "base")
            model, _config = models.load(checkpoint, values["precision"])
            targets = block_linears(model)
            quantization = quantize(model, values["quantizer"], values["group_size"])
        timings["load_s"] = time.perf_counter() - started

        eval_tokens = mx.array(_batches(values, seed_offset=1, steps=1)[0].astype(np.int32))
        base_loss = eval_loss(model, eval_tokens)
        base_logits = _logits(model, eval_tokens)

        started = time.perf_counter()
        with memory.phase("adapters"):
            setup = adapters.apply_training_type(model, values)
            if values["gradient_checkpointing"]:
                enable_gradient_checkpointing(model)
            warmup = schedules.warmup_steps(values["warmup"], values["steps"])
            schedule = optim.build_schedule(values["scheduler"], values["lr"], values["steps"], warmup)
            optimizer, optimizer_settings = optim.build_optimizer(values["optimizer"], schedule, values["weight_decay"])
        timings["adapters_s"] = time.perf_counter() - started
        output_checks.append(self._identity_check(setup.fine_tune_type, model, base_logits, eval_tokens, values))
        trainable_before = dict(tree_flatten(model.trainable_parameters()))
        frozen_before = {k: v for k, v in tree_flatten(model.parameters()) if k not in trainable_before}

        batches_np = _batches(values, seed_offset=0, steps=values["steps"] * values["grad_accum"])
        mx.reset_peak_memory()
        with memory.phase("train"):
            record = train(
                model,
                mx.array(batches_np.astype(np.int32)),
                optimizer,
                grad_accum=values["grad_accum"],
                max_grad_norm=values["max_grad_norm"],
                gradient_l2=optim.gradient_weight_decay(values["optimizer"], values["weight_decay"]),
            )
        memory.extra["mlx_peak_train_mb"] = round(mx.get_peak_memory() / MIB, 3)
        timings["train_s"] = record.train_s
        timings["step_s"] = record.train_s / max(1, len(record.losses))

        started = time.perf_counter()
        trainable_after = dict(tree_flatten(model.trainable_parameters()))
        output_checks += [
            finite_check(record.losses),
            learned_check(record.losses, context.learned_margin),
            checks.trainable_check(setup.fine_tune_type, trainable_before, trainable_after),
            self._frozen_check(setup.fine_tune_type, frozen_before, model),
            checks.quantized_check(quantization, targets if values["quantizer"] != "none" else [], model),
            checks.lr_schedule_check(
                record.lrs,
                schedules.expected_lrs(values["scheduler"], values["lr"], values["steps"], warmup),
                values["lr"],
            ),
            *self._checkpoint_checks(model, setup, checkpoint, values, eval_tokens, base_loss, context),
        ]
        if setup.fine_tune_type != "full":
            quantized = values["quantizer"] != "none"
            output_checks.append(
                merge.merge_check(
                    model,
                    lambda fused: _logits(fused, eval_tokens),
                    _logits(model, eval_tokens),
                    base_logits,
                    values["precision"],
                    quantized,
                    setup.fine_tune_type == "dora",
                )
            )
        timings["checks_s"] = time.perf_counter() - started
        runtime = runtime_info()  # before parity, which imports torch on purpose
        started = time.perf_counter()
        output_checks.append(
            run_parity(values["model"], values["seed"], batches_np[0], context.work_dir / "parity_torch")
        )
        timings["parity_s"] = time.perf_counter() - started
        memory.extra["mlx_active_mb"] = round(mx.get_active_memory() / MIB, 3)

        return EngineOutput(
            losses=record.losses,
            lrs=record.lrs,
            checks=output_checks,  # non-finite figures are made strict JSON by CellResult.to_dict
            memory=memory.to_dict(),
            timings=timings,
            tokens_per_s=record.tokens / record.train_s if record.train_s > 0 else None,
            info={
                **runtime,
                "parameters": models.parameter_count(model),
                "optimizer": optimizer_settings,
                "scheduler": {"name": values["scheduler"], "warmup_steps": warmup, "steps": values["steps"]},
                "precision": _precision_info(values["precision"], trainable_after),
                "quantization": quantization.to_dict(),
                "adapter": setup.to_dict(),
                "gradient_checkpointing": values["gradient_checkpointing"],
            },
        )

    @staticmethod
    def _identity_check(
        fine_tune_type: str, model: Any, base_logits: mx.array, tokens: mx.array, values: dict[str, Any]
    ) -> CheckResult:
        if fine_tune_type == "full":
            return checks.skipped("identity_init", "full fine-tuning adds no adapters")
        lora_b = {k: v for k, v in tree_flatten(model.parameters()) if k.endswith(".lora_b")}
        return checks.identity_init_check(base_logits, _logits(model, tokens), lora_b, values["precision"])

    @staticmethod
    def _frozen_check(fine_tune_type: str, before: dict[str, mx.array], model: Any) -> CheckResult:
        if fine_tune_type == "full":
            return checks.skipped("frozen_base", "full fine-tuning trains every parameter")
        return checks.frozen_base_check(before, dict(tree_flatten(model.parameters())))

    @staticmethod
    def _checkpoint_checks(
        model: Any,
        setup: adapters.AdapterSetup,
        checkpoint: Any,
        values: dict[str, Any],
        tokens: mx.array,
        base_loss: float,
        context: CellContext,
    ) -> list[CheckResult]:
        directory = adapters.save_adapter(model, setup, context.work_dir / "adapter")
        fresh, _config = models.load(checkpoint, values["precision"])
        quantize(fresh, values["quantizer"], values["group_size"])
        reloaded = adapters.load_adapter(fresh, directory)
        checkpoint_result = checks.checkpoint_check(eval_loss(model, tokens), eval_loss(reloaded, tokens), base_loss)
        if setup.fine_tune_type == "full":
            return [checkpoint_result]
        reload = merge.adapter_reload_check(_logits(model, tokens), _logits(reloaded, tokens), values["precision"])
        return [checkpoint_result, reload]


def _batches(values: dict[str, Any], *, seed_offset: int, steps: int) -> np.ndarray:
    return load_batches(values["dataset"], values["seed"] + seed_offset, steps, values["batch_size"], values["seq_len"])


def _logits(model: Any, tokens: mx.array) -> mx.array:
    was_training = model.training
    model.eval()
    logits: mx.array = model(tokens[:, :-1]).astype(mx.float32)
    mx.eval(logits)
    model.train(was_training)
    return logits


def _precision_info(precision: str, trainable: dict[str, mx.array]) -> dict[str, Any]:
    dtypes = sorted({str(value.dtype) for value in trainable.values()})
    return {"base_dtype": str(models.DTYPES[precision]), "trainable_dtypes": dtypes, "loss_dtype": "float32"}
