"""The budget search: the fitted law goes through the measured points and the answer respects the budget."""

from __future__ import annotations

import pytest

from qlora_check.estimate.budget import fit, largest_fitting
from qlora_check.estimate.request import GIB


def test_fit_recovers_a_quadratic_law_exactly() -> None:
    a, beta, gamma = 5e9, 3e5, 40.0
    points = {seq: int(a + beta * seq + gamma * seq * seq) for seq in (512, 1024, 2048)}
    fitted = fit(points)
    assert fitted == pytest.approx((a, beta, gamma), rel=1e-6)


def test_fit_of_a_linear_law_has_no_quadratic_term() -> None:
    points = {seq: 1000 + 7 * seq for seq in (256, 512, 1024)}
    assert fit(points) == pytest.approx((1000, 7, 0), abs=1e-6)


def test_largest_fitting_respects_the_budget_and_shrinks_batch_with_length() -> None:
    # 10 GiB of weights plus 1 MiB per token, in the backward phase; forward smaller.
    peaks = {seq: {"forward": 10 * GIB, "backward": 10 * GIB + seq * 2**20} for seq in (512, 1024, 2048)}
    budget = largest_fitting(peaks, 24, max_seq=8192)
    rows = {row["seq_len"]: row["max_batch"] for row in budget["rows"]}
    assert rows[256] == 32  # 14 GiB of room = 14336 tokens: batch 32 × 256 = 8192 fits, 64 × 256 does not
    assert rows[8192] == 1
    for row in budget["rows"]:
        assert row["peak_bytes"] <= 24 * GIB
        assert 10 * GIB + 2 * row["max_batch"] * row["seq_len"] * 2**20 > 24 * GIB  # doubling would not fit
    assert budget["largest"]["seq_len"] * budget["largest"]["max_batch"] == 8192


def test_nothing_fits_a_budget_below_the_weights() -> None:
    peaks = {seq: {"forward": 30 * GIB + seq} for seq in (512, 1024, 2048)}
    assert largest_fitting(peaks, 16, max_seq=4096)["largest"] is None
