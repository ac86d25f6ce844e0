"""The live-bytes accounting: exact on tensors whose sizes we know, views counted once, frees seen."""

from __future__ import annotations

import torch

from qlora_check.estimate.tracker import LiveBytes


def test_peak_and_current_follow_allocations_and_frees() -> None:
    weight = torch.ones(1000)  # 4000 bytes, alive before the mode
    live = LiveBytes()
    live.adopt([weight, weight.view(10, 100)])
    assert live.current == 4000  # a view of an adopted tensor is the same storage
    with live:
        live.enter_phase("work")
        doubled = weight * 2  # + 4000
        view = doubled.view(10, 100)  # same storage: + 0
        tripled = view * 3  # + 4000
        assert live.current == 12000
        del doubled, view, tripled
        live.enter_phase("after")
        assert live.current == 4000
    assert live.peaks["work"] == 12000
    assert live.peaks["after"] == 4000


def test_the_autograd_saved_tensors_are_counted_until_backward_frees_them() -> None:
    parameter = torch.nn.Parameter(torch.ones(256, 256))
    inputs = torch.ones(64, 256)
    live = LiveBytes()
    live.adopt([parameter, inputs])
    start = live.current
    with live:
        live.enter_phase("forward")
        hidden = torch.tanh(inputs @ parameter)  # the mm output dies; tanh keeps its output for backward
        loss = hidden.sum()
        after_forward = live.current
        loss.backward()
        del loss, hidden
        live.enter_phase("end")
    assert after_forward - start == 64 * 256 * 4 + 4  # tanh's output and the scalar loss
    assert parameter.grad is not None
    assert live.current - start == 256 * 256 * 4  # only the gradient survives
