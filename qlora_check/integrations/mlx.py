"""`MetricsCallback` for mlx-lm's trainer (`mlx_lm.tuner.trainer.train(..., training_callback=...)`).

mlx-lm calls ``on_train_loss_report`` every ``steps_per_report`` iterations with the mean loss since the
last report and the optimizer's current learning rate; set ``steps_per_report=1`` for a point per step.
A no-op when $QLORA_CHECK_METRICS is unset.
"""

from __future__ import annotations

from typing import Any

from mlx_lm.tuner.callbacks import TrainingCallback

from qlora_check.integrations.protocol import number, write_point


class MetricsCallback(TrainingCallback):  # type: ignore[misc]
    """Writes each training-loss report to $QLORA_CHECK_METRICS; chains to ``wrapped`` if given."""

    def __init__(self, wrapped: TrainingCallback | None = None) -> None:
        self.wrapped = wrapped

    def on_train_loss_report(self, train_info: dict[str, Any]) -> None:
        loss = number(train_info.get("train_loss"))
        step = train_info.get("iteration")
        if loss is not None and isinstance(step, int):
            write_point(step, loss, number(train_info.get("learning_rate")))
        if self.wrapped is not None:
            self.wrapped.on_train_loss_report(train_info)

    def on_val_loss_report(self, val_info: dict[str, Any]) -> None:
        if self.wrapped is not None:
            self.wrapped.on_val_loss_report(val_info)
