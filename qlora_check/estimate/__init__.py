"""Real-size memory figures from real-shaped layers: build 1 and 2 decoder layers, train a step, extrapolate.

`estimate(request)` is the one entry point; `validate(request)` checks the method on a full small model.
"""

from __future__ import annotations

from qlora_check.estimate.request import EstimateError, EstimateRequest

__all__ = ["EstimateError", "EstimateRequest"]
