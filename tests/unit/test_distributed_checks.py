"""The verdicts of multi-rank cells and the reference's tolerance rule (no ranks started here)."""

from __future__ import annotations

import math

import pytest

from qlora_check.distributed.checks import matches_single_check, ranks_agree_check
from qlora_check.distributed.reference import tolerance
from qlora_check.matrix.axes import DEFAULTS


def test_ranks_agree_needs_one_hash_and_no_difference() -> None:
    assert ranks_agree_check({"hashes": ["a", "a"], "max_abs_diff": 0.0, "elements": 4}).passed
    assert not ranks_agree_check({"hashes": ["a", "b"], "max_abs_diff": 1e-7, "elements": 4}).passed
    assert not ranks_agree_check({"hashes": [], "max_abs_diff": 0.0}).passed


def test_matches_single_is_exact_when_the_limit_is_zero() -> None:
    same = matches_single_check([5.0, 4.0], [5.0, 4.0], 0.0, 1.0, 0.0, 0.0, "exact")
    assert same.passed and same.figures["limit"] == 0.0
    ulp = matches_single_check([5.0, 4.0], [5.0, 4.0 + 4.77e-7], 0.0, 1.0, 0.0, 0.0, "exact")
    assert not ulp.passed  # one ulp of loss is a mismatch when the arithmetic is claimed identical
    params = matches_single_check([5.0], [5.0], 1e-7, 1.0, 0.0, 0.0, "exact")
    assert not params.passed


def test_matches_single_within_a_tolerance_and_never_on_nan() -> None:
    close = matches_single_check([5.0, 4.0], [5.0, 4.0 + 1e-6], 1e-7, 1.0, 1e-5, 1e-4, "why")
    assert close.passed and close.figures["tolerance"] == "why"
    assert not matches_single_check([math.nan], [5.0], 0.0, 1.0, 1e-5, 1e-4, "why").passed
    assert not matches_single_check([5.0], [5.0, 4.0], 0.0, 1.0, 1e-5, 1e-4, "why").passed


@pytest.mark.parametrize(
    ("changes", "device", "exact"),
    [
        ({"distributed": "ddp"}, "cpu", True),
        ({"distributed": "fsdp2", "max_grad_norm": 0.0}, "cpu", True),
        ({"distributed": "fsdp", "max_grad_norm": 1.0}, "cpu", False),  # sharded clipping norm
        ({"distributed": "ddp", "grad_accum": 2}, "cpu", False),
        ({"distributed": "ddp", "lora_dropout": 0.1}, "cpu", False),
        ({"distributed": "ddp"}, "cuda", False),
    ],
)
def test_the_reference_tolerance_is_zero_only_when_the_arithmetic_is_the_same(
    changes: dict[str, object], device: str, exact: bool
) -> None:
    atol, rtol, why = tolerance({**DEFAULTS, **changes}, 2, device)
    assert (atol == rtol == 0.0) is exact, why


def test_three_ranks_are_not_exact() -> None:
    atol, _, why = tolerance({**DEFAULTS, "distributed": "ddp"}, 3, "cpu")
    assert atol > 0 and "power of two" in why


def test_a_command_runner_gets_torchrun_style_variables() -> None:
    from qlora_check.distributed.rendezvous import backend_for, free_port, torchrun_environment

    port = free_port()
    env = torchrun_environment(1, 2, port)
    assert env == {
        "RANK": "1",
        "WORLD_SIZE": "2",
        "LOCAL_RANK": "1",
        "LOCAL_WORLD_SIZE": "2",
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(port),
    }
    assert 0 < port < 65536
    assert (backend_for("cpu"), backend_for("cuda")) == ("gloo", "nccl")
