"""The largest batch × seq_len whose peak fits a memory budget, from peaks measured at three lengths.

Per phase, peak(b, s) = a + β·b·s + γ·b·s²: constant weights and state, memory linear in tokens, and an
attention term quadratic in the sequence (zero for flash kernels). Three lengths at batch 1 fix a, β, γ.
"""

from __future__ import annotations

from typing import Any

from qlora_check.estimate.request import GIB

_MAX_BATCH = 1024


def fit(points: dict[int, int]) -> tuple[float, float, float]:
    """(a, β, γ) through three (seq, peak) points; with fewer, γ = 0 (linear) or β = γ = 0."""
    seqs = sorted(points)
    if len(seqs) == 1:
        return float(points[seqs[0]]), 0.0, 0.0
    if len(seqs) == 2:
        (s1, s2) = seqs
        beta = (points[s2] - points[s1]) / (s2 - s1)
        return points[s1] - beta * s1, beta, 0.0
    s1, s2, s3 = seqs[-3:]
    p1, p2, p3 = points[s1], points[s2], points[s3]
    d1 = (p2 - p1) / (s2 - s1)
    d2 = (p3 - p2) / (s3 - s2)
    gamma = max(0.0, (d2 - d1) / (s3 - s1))
    beta = d1 - gamma * (s1 + s2)
    return p1 - beta * s1 - gamma * s1 * s1, beta, gamma


def largest_fitting(peaks_by_seq: dict[int, dict[str, int]], budget_gb: float, max_seq: int) -> dict[str, Any]:
    """For each power-of-two seq_len up to ``max_seq``, the largest power-of-two batch whose peak fits."""
    budget = budget_gb * GIB
    phases = next(iter(peaks_by_seq.values())).keys()
    laws = {phase: fit({seq: peaks[phase] for seq, peaks in peaks_by_seq.items()}) for phase in phases}

    def peak(batch: int, seq: int) -> float:
        return max(a + beta * batch * seq + gamma * batch * seq * seq for a, beta, gamma in laws.values())

    rows: list[dict[str, int]] = []
    seq = 256
    while seq <= max_seq:
        batch = 0
        while batch * 2 <= _MAX_BATCH and peak(batch * 2 or 1, seq) <= budget:
            batch = batch * 2 or 1
        if batch:
            rows.append({"seq_len": seq, "max_batch": batch, "peak_bytes": int(peak(batch, seq))})
        seq *= 2
    best = max(rows, key=lambda row: row["seq_len"] * row["max_batch"], default=None)
    return {
        "budget_gb": budget_gb,
        "rows": rows,
        "largest": best,
        "method": f"per-phase fit a + β·b·s + γ·b·s² through seq_len {sorted(peaks_by_seq)} at batch 1",
    }
