"""One rank of a multi-process cell: join the group, train on this rank's split, check, save, leave.

Runs in a process forked from the cell's worker (or spawned through ``qlora_check.execution.rank_entry``).
It writes its own events (``rank-N.events.jsonl``: phases and steps, read by the watcher to name a hung rank)
and its own result file; the worker combines the ranks' results into the cell's.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qlora_check.distributed.build import Built

TRAINED_FILE = "trained.safetensors"


@dataclass(frozen=True)
class RankSpec:
    values: dict[str, Any]
    work_dir: str
    rank: int
    world_size: int
    device_kind: str  # cpu | cuda
    timeout_s: float
    inject_rank: int
    attempt: int = 1

    @property
    def directory(self) -> Path:
        return Path(self.work_dir)

    def result_path(self) -> Path:
        return self.directory / f"rank-{self.rank}.result.json"

    def events_path(self) -> Path:
        return self.directory / f"rank-{self.rank}.events.jsonl"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Events:
    """Append-only JSON lines, flushed at once (the watcher reads them while the rank runs)."""

    def __init__(self, path: Path) -> None:
        self.handle = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed by the rank's exit
        self.started = time.monotonic()

    def emit(self, event: str, **fields: Any) -> None:
        record = {"event": event, "t": round(time.monotonic() - self.started, 4), **fields}
        self.handle.write(json.dumps(record) + "\n")
        self.handle.flush()


def run_rank(spec: RankSpec, fault: Callable[[str, int], None] | None = None) -> int:
    """The whole life of a rank; returns its exit code (0 when its result says it finished)."""
    events = Events(spec.events_path())
    events.emit("started", pid=os.getpid())
    try:
        result = _train_rank(spec, events, fault)
    except BaseException as exc:  # a rank records every failure for the watcher, whatever its class
        traceback.print_exc()
        _write(spec.result_path(), {"rank": spec.rank, "error": _error(exc), "failed_at": time.time()})
        events.emit("error", message=str(exc)[:200])
        return 1
    _write(spec.result_path(), result)
    events.emit("finished")
    return 0


def _train_rank(spec: RankSpec, events: Events, fault: Callable[[str, int], None] | None) -> dict[str, Any]:
    import torch

    from qlora_check.distributed import rendezvous
    from qlora_check.engines.memory import MemoryTracker
    from qlora_check.engines.torch_engine.device_memory import DevicePeaks

    torch.set_num_threads(1)
    device = torch.device(rendezvous.rank_device(spec.device_kind, spec.rank))
    if device.type == "cuda":
        torch.cuda.set_device(device)
    memory, peaks = MemoryTracker(), DevicePeaks(device)
    timings: dict[str, float] = {}

    @contextlib.contextmanager
    def phase(name: str) -> Iterator[None]:
        events.emit("phase", name=name)
        started = time.perf_counter()
        with memory.phase(name), peaks.phase(name):
            yield
        timings[f"{name}_s"] = round(time.perf_counter() - started, 4)

    from qlora_check.distributed.build import build

    # Built before the group exists: transformers' save_pretrained writes on rank 0 only once a group is up,
    # and every rank materialises its own copy of the checkpoint.
    with phase("load"):
        built = build(spec.values, spec.directory / f"rank-{spec.rank}", device)
    with phase("rendezvous"):
        backend = rendezvous.init_group(spec.rank, spec.world_size, spec.directory, spec.device_kind, spec.timeout_s)
        torch.distributed.barrier()
    if spec.rank == spec.inject_rank and fault is not None:
        events.emit("inject", fault=str(spec.values["inject"]))
        fault(str(spec.values["inject"]), spec.attempt)
    result = _train(spec, built, device, phase, events)
    with phase("teardown"):
        rendezvous.teardown()
    return {
        "rank": spec.rank,
        "pid": os.getpid(),
        "backend": backend,
        "device": str(device),
        **result,
        "timings": timings,
        "memory": {**memory.to_dict(), **peaks.to_dict()},
    }


def _train(spec: RankSpec, built: Built, device: Any, phase: Any, events: Events) -> dict[str, Any]:
    import torch
    import torch.distributed as dist

    from qlora_check.distributed import wrap as wrapping
    from qlora_check.distributed.build import optimizer_for, rank_split
    from qlora_check.engines.torch_engine import measure

    values = spec.values
    strategy = str(values.get("distributed", "ddp"))
    trainable_expected = built.adapted.expected_trainable
    trainable_actual = sum(p.numel() for p in built.adapted.model.parameters() if p.requires_grad)
    trainable_names = {name for name, p in built.adapted.model.named_parameters() if p.requires_grad}
    with phase("wrap"):
        model = wrapping.wrap(
            built.adapted.model,
            strategy,
            device,
            sharding=str(values.get("sharding", "full")),
            cpu_offload=bool(values.get("cpu_offload", False)),
        )
        optimizer, scheduler, settings = optimizer_for(values, model, built.warmup)
    batches = rank_split(built.inputs.batches, spec.rank, spec.world_size)
    grad_accum, plan = int(values["grad_accum"]), built.plan
    losses: list[float] = []
    lrs: list[float] = []
    tokens = 0
    with phase("train"):
        model.train()
        for step in range(batches.shape[0] // grad_accum):
            lrs.append(float(optimizer.param_groups[0]["lr"]))
            local = 0.0
            for micro in range(grad_accum):
                input_ids = batches[step * grad_accum + micro].to(device)
                with plan.autocast(device.type):
                    loss = model(input_ids=input_ids, labels=input_ids).loss / grad_accum
                loss.backward()
                local += float(loss.detach().float())
                tokens += input_ids.numel()
            wrapping.clip_gradients(model, strategy, float(values["max_grad_norm"]))
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            scheduler.step()
            mean = torch.tensor([local], dtype=torch.float64, device=device)
            dist.all_reduce(mean)
            losses.append(float(mean.item()) / spec.world_size)
            events.emit("step", step=step, loss=losses[-1])
    with phase("checkpoint"):
        eval_batch = built.inputs.eval_batch
        trained_loss = measure.eval_loss(model, eval_batch, plan, device)
        state = wrapping.full_trainable_state(model, trainable_names, strategy)
        agreement = _agreement(state)
        files: list[str] = []
        if spec.rank == 0:
            files = _save(state, spec.directory)
        dist.barrier()
    del model, optimizer, scheduler, built, state
    return {
        "strategy": strategy,
        "losses": losses,
        "lrs": lrs,
        "tokens": tokens,
        "trained_eval_loss": trained_loss,
        "agreement": agreement,
        "saved": files,
        "trainable": {"actual": trainable_actual, "expected": trainable_expected},
        "optimizer": settings,
    }


def _agreement(state: dict[str, Any]) -> dict[str, Any]:
    """This rank's hash of the whole trainable state, every rank's hash, and rank 0's max |difference| to each."""
    import torch
    import torch.distributed as dist

    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].contiguous()
        digest.update(name.encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    flat = torch.cat([state[name].float().reshape(-1) for name in sorted(state)]) if state else torch.zeros(0)
    gathered: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, (digest.hexdigest(), flat))
    reference = gathered[0][1]
    diffs = [
        float((other.double() - reference.double()).abs().max()) if other.numel() else 0.0 for _, other in gathered
    ]
    return {"hashes": [item[0] for item in gathered], "max_abs_diff": max(diffs), "elements": int(flat.numel())}


def _save(state: dict[str, Any], directory: Path) -> list[str]:
    """The full trainable state, as a user saves adapters after sharded training (rank 0 only)."""
    from safetensors.torch import save_file

    save_file({name: tensor.contiguous() for name, tensor in state.items()}, directory / TRAINED_FILE)
    return [TRAINED_FILE]


def _error(exc: BaseException) -> dict[str, Any]:
    tail = "".join(traceback.format_exception(exc)).splitlines()[-40:]
    kind = f"{type(exc).__module__}.{type(exc).__qualname__}"
    return {"type": kind, "message": str(exc)[:2000], "traceback": "\n".join(tail)}


def _write(path: Path, data: dict[str, Any]) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(data, default=str), encoding="utf-8")
    os.replace(temporary, path)
