"""The tensor-byte accounting against the process's resident memory on a real CPU step.

RSS also holds allocator slack, autograd and kernel scratch, and Python objects, so it is an upper bound:
the bytes the accounting says were alive at the peak must really have been resident (no double counting).
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _rss_and_hwm() -> tuple[int, int]:
    fields = {}
    with open("/proc/self/status", encoding="utf-8") as status:
        for line in status:
            if line.startswith(("VmRSS", "VmHWM")):
                fields[line.split(":")[0]] = int(line.split()[1]) * 1024
    return fields["VmRSS"], fields["VmHWM"]


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc")
def test_accounted_peak_of_a_real_step_was_resident() -> None:
    import torch

    from qlora_check.estimate.build import build, tensors_of
    from qlora_check.estimate.configs import load_config
    from qlora_check.estimate.extrapolate import quiet_libraries
    from qlora_check.estimate.measure import measure
    from qlora_check.estimate.request import EstimateRequest
    from qlora_check.estimate.validate import reduced_config

    torch.set_num_threads(1)
    small = reduced_config(load_config("llama-3-8b"), vocab=8192)
    request = EstimateRequest("llama-3-8b", precision="fp32", seq_len=128)
    with quiet_libraries():
        built = build(small, small.layers, request, torch.device("cpu"), {})
        try:
            with open("/proc/self/clear_refs", "w", encoding="utf-8") as clear:
                clear.write("5")  # reset the high-water mark to the current RSS
        except OSError:
            pytest.skip("cannot reset VmHWM here")
        start, _ = _rss_and_hwm()
        measured = measure(built, request)
        _, high_water = _rss_and_hwm()
    storages = {t.untyped_storage()._cdata: t.untyped_storage().nbytes() for t in tensors_of(built.model)}
    model_bytes = sum(storages.values())
    accounted = measured.peak - model_bytes  # what the two steps added on top of the model
    assert accounted > 32 * 2**20  # a step of this model really allocates tens of MiB
    assert high_water - start >= accounted
