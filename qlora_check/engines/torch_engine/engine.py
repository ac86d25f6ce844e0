"""TorchEngine: one cell on cpu, cuda or mps, from model load to checks."""

from __future__ import annotations

import time
from typing import Any

import torch

from qlora_check.engines.checks import finite_check, learned_check
from qlora_check.engines.data import load_batches
from qlora_check.engines.interface import CellContext, Engine, EngineOutput
from qlora_check.engines.memory import MemoryTracker
from qlora_check.engines.torch_engine import adapters, models
from qlora_check.engines.torch_engine.optim import build_optimizer, build_scheduler, warmup_steps
from qlora_check.engines.torch_engine.precision import precision_plan
from qlora_check.engines.torch_engine.train import train
from qlora_check.matrix.cell import Cell


class TorchEngine(Engine):
    name = "torch"

    def run(self, cell: Cell, context: CellContext) -> EngineOutput:
        values: dict[str, Any] = cell.values
        if values["quantizer"] != "none":
            raise NotImplementedError(f"quantizer {values['quantizer']} is not implemented by the torch engine yet")
        device = torch.device(values["backend"])
        torch.manual_seed(values["seed"])
        memory = MemoryTracker()
        precision = precision_plan(values["precision"])
        timings: dict[str, float] = {}

        started = time.perf_counter()
        with memory.phase("load"):
            checkpoint = models.materialise(values["model"], values["seed"], context.work_dir / "base")
            model = models.load(checkpoint, precision.param_dtype).to(device)
            precision.apply(model)
        timings["load_s"] = time.perf_counter() - started

        started = time.perf_counter()
        with memory.phase("adapters"):
            model = adapters.apply_training_type(model, values)
            precision.apply(model)
            trainable = [p for p in model.parameters() if p.requires_grad]
            optimizer, optimizer_settings = build_optimizer(
                values["optimizer"], trainable, values["lr"], values["weight_decay"]
            )
            scheduler = build_scheduler(
                values["scheduler"], optimizer, values["steps"], warmup_steps(values["warmup"], values["steps"])
            )
        timings["adapters_s"] = time.perf_counter() - started

        batches = torch.from_numpy(
            load_batches(
                values["dataset"],
                values["seed"],
                values["steps"] * values["grad_accum"],
                values["batch_size"],
                values["seq_len"],
            )
        )
        with memory.phase("train"):
            record = train(
                model,
                batches,
                optimizer,
                scheduler,
                precision,
                grad_accum=values["grad_accum"],
                max_grad_norm=values["max_grad_norm"],
                device=device,
            )
        timings["train_s"] = record.train_s
        timings["step_s"] = record.train_s / max(1, len(record.losses))

        return EngineOutput(
            losses=record.losses,
            lrs=record.lrs,
            checks=[finite_check(record.losses), learned_check(record.losses, context.learned_margin)],
            memory=memory.to_dict(),
            timings=timings,
            tokens_per_s=record.tokens / record.train_s if record.train_s > 0 else None,
            info={
                "device": str(device),
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
                "parameters": adapters.count_parameters(model),
                "optimizer": optimizer_settings,
                "precision": {
                    "param_dtype": str(precision.param_dtype),
                    "autocast": str(precision.autocast_dtype) if precision.autocast_dtype else None,
                },
            },
        )
