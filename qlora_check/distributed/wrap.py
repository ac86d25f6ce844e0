"""Wrap a rank's model for its strategy (DDP, FSDP1, FSDP2) and read back its full trainable state.

FSDP1 is used the way QLoRA recipes use it: ``use_orig_params=True`` (LoRA mixes frozen and trainable
parameters in one flat parameter) and one FSDP unit per decoder layer. On the CPU FSDP1 needs
``device_id=torch.device("cpu")``; without it it refuses ("needs a non-CPU accelerator device").
"""

from __future__ import annotations

from typing import Any

import torch

STRATEGIES = ("ddp", "fsdp", "fsdp2")


def decoder_layer_classes(model: torch.nn.Module) -> set[type[torch.nn.Module]]:
    """The classes the model names as not to be split (its decoder layers), found among its modules."""
    names: set[str] = set()
    for module in model.modules():
        names.update(getattr(module, "_no_split_modules", None) or ())
    return {type(module) for module in model.modules() if type(module).__name__ in names}


def wrap(
    model: torch.nn.Module, strategy: str, device: torch.device, *, sharding: str = "full", cpu_offload: bool = False
) -> torch.nn.Module:
    """``model`` (on ``device``) wrapped for ``strategy``; the FSDP knobs as the matrix names them."""
    if strategy == "ddp":
        from torch.nn.parallel import DistributedDataParallel

        device_ids = [device.index] if device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=device_ids)
    if strategy == "fsdp":
        return _fsdp1(model, device, sharding, cpu_offload)
    if strategy == "fsdp2":
        return _fsdp2(model, device, sharding, cpu_offload)
    raise ValueError(f"unknown distributed strategy {strategy!r} (known: {', '.join(STRATEGIES)})")


def _fsdp1(model: torch.nn.Module, device: torch.device, sharding: str, cpu_offload: bool) -> torch.nn.Module:
    from torch.distributed.fsdp import CPUOffload, ShardingStrategy
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
    from torch.distributed.fsdp.wrap import ModuleWrapPolicy

    strategies = {
        "full": ShardingStrategy.FULL_SHARD,
        "shard_grad_op": ShardingStrategy.SHARD_GRAD_OP,
        "hybrid": ShardingStrategy.HYBRID_SHARD,
    }
    layers = decoder_layer_classes(model)
    options: dict[str, Any] = {}
    if sharding == "hybrid":
        # Given no mesh, FSDP1 builds its own shard / replicate groups, and on the CPU the two ranks drifted
        # apart (ranks_agree caught it: max |diff| 0.075 after 16 steps); an explicit mesh keeps them exact.
        options["device_mesh"] = _hybrid_mesh(device)
    return FSDP(
        model,
        auto_wrap_policy=ModuleWrapPolicy(layers) if layers else None,
        sharding_strategy=strategies[sharding],
        **options,
        cpu_offload=CPUOffload(offload_params=cpu_offload),
        device_id=device,
        use_orig_params=True,
        sync_module_states=False,  # every rank built the same weights from the same seed
    )


def _fsdp2(model: torch.nn.Module, device: torch.device, sharding: str, cpu_offload: bool) -> torch.nn.Module:
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import CPUOffloadPolicy, OffloadPolicy, fully_shard

    mesh = _hybrid_mesh(device) if sharding == "hybrid" else init_device_mesh(device.type, (dist.get_world_size(),))
    options: dict[str, Any] = {
        "mesh": mesh,
        "reshard_after_forward": sharding != "shard_grad_op",
        "offload_policy": CPUOffloadPolicy() if cpu_offload else OffloadPolicy(),
    }
    layers = decoder_layer_classes(model)
    for module in model.modules():
        if type(module) in layers:
            fully_shard(module, **options)
    fully_shard(model, **options)
    return model


def _hybrid_mesh(device: torch.device) -> Any:
    """One replica group of the whole world, sharded within: HSDP's smallest shape (one node)."""
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh

    return init_device_mesh(device.type, (1, dist.get_world_size()), mesh_dim_names=("replicate", "shard"))


def clip_gradients(model: torch.nn.Module, strategy: str, max_norm: float) -> None:
    """Clip by the global norm: FSDP1 computes it over shards itself; DTensor grads (FSDP2) reduce inside torch."""
    if max_norm <= 0:
        return
    if strategy == "fsdp":
        model.clip_grad_norm_(max_norm)  # type: ignore[operator]
        return
    parameters = [p for p in model.parameters() if p.requires_grad and p.grad is not None]
    torch.nn.utils.clip_grad_norm_(parameters, max_norm)


FSDP1_PREFIX = "_fsdp_wrapped_module."


def full_trainable_state(model: torch.nn.Module, names: set[str], strategy: str) -> dict[str, torch.Tensor]:
    """Every trainable parameter (``names``: as the unwrapped model names them), whole, on the CPU, on every rank.

    Filtered by name: a quantized base adds entries that are no parameters (a 4-bit layer's quant state), which
    ``ignore_frozen_params`` keeps. FSDP1 gathers through ``summon_full_params``: its state-dict path dropped
    the root unit's parameters (embed_tokens …) with one NCCL rank (AssertionError "FSDP assumes
    ...embed_tokens.weight is in the state_dict"; measured with torch 2.11+cu130 on an H200), on gloo it worked.
    """
    if strategy == "fsdp":
        from torch.distributed.fsdp import FullyShardedDataParallel

        with FullyShardedDataParallel.summon_full_params(model, writeback=False):
            return {
                clean: parameter.detach().cpu().clone()
                for name, parameter in model.named_parameters()
                if (clean := name.replace(FSDP1_PREFIX, "")) in names
            }
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    options = StateDictOptions(full_state_dict=True, ignore_frozen_params=True)
    state = get_model_state_dict(model, options=options)
    full: dict[str, torch.Tensor] = {}
    for name, value in state.items():
        if name not in names:
            continue
        tensor = value.full_tensor() if hasattr(value, "full_tensor") else value
        full[name] = tensor.detach().cpu().clone()
    return full
