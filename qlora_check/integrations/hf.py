"""`MetricsCallback` for the Hugging Face `Trainer` (and TRL's trainers, which are Trainers).

    trainer = SFTTrainer(..., callbacks=[MetricsCallback()])

Every logged training step (``logs`` with a ``loss``) becomes one protocol line with the global step and
learning rate; evaluation logs and the final summary are skipped. Only the main process writes. A no-op
when $QLORA_CHECK_METRICS is unset, so the callback can stay in a script run outside qlora-check.
"""

from __future__ import annotations

from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from qlora_check.integrations.protocol import number, write_point


class MetricsCallback(TrainerCallback):  # type: ignore[misc]
    """Writes each training loss the Trainer logs to $QLORA_CHECK_METRICS."""

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if not logs or not state.is_world_process_zero:
            return
        loss = number(logs.get("loss"))
        if loss is not None:
            write_point(int(state.global_step), loss, number(logs.get("learning_rate")))
