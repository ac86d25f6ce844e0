"""The metrics shims inside a real transformers Trainer and a real mlx-lm `train` call."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qlora_check.runners.materialise import Materialised, materialise
from qlora_check.runners.readers import make_reader
from qlora_check.runners.readers.interface import ReaderInput

pytestmark = pytest.mark.slow
STEPS = 4


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Materialised:
    return materialise("tiny-llama", "synthetic", tmp_path_factory.mktemp("cache"))


def rows(built: Materialised) -> list[dict[str, str]]:
    lines = (built.data / "text" / "train.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines[:16]]


def run_hf_trainer(built: Materialised, out: Path) -> list[dict[str, float]]:
    """A real Trainer run with the callback; returns the Trainer's own log history."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, Trainer, TrainingArguments

    from qlora_check.integrations.hf import MetricsCallback

    tokenizer = AutoTokenizer.from_pretrained(built.model)
    encoded = [tokenizer(row["text"], return_tensors="pt")["input_ids"][0] for row in rows(built)]
    dataset = [{"input_ids": ids, "labels": ids.clone()} for ids in encoded]
    torch.manual_seed(0)
    trainer = Trainer(
        model=AutoModelForCausalLM.from_pretrained(built.model),
        args=TrainingArguments(
            output_dir=str(out), max_steps=STEPS, logging_steps=1, learning_rate=1e-2, per_device_train_batch_size=2,
            use_cpu=True, report_to="none", save_strategy="no", disable_tqdm=True,
        ),
        train_dataset=dataset,
        callbacks=[MetricsCallback()],
    )
    trainer.train()
    return [entry for entry in trainer.state.log_history if "loss" in entry]


def test_hf_callback_writes_one_protocol_line_per_logged_step(
    built: Materialised, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    metrics = tmp_path / "metrics.jsonl"
    monkeypatch.setenv("QLORA_CHECK_METRICS", str(metrics))
    history = run_hf_trainer(built, tmp_path / "out")
    report = make_reader("jsonl").read(ReaderInput(tmp_path, tmp_path / "stdout.log", metrics))
    assert [point.step for point in report.points] == list(range(1, STEPS + 1))
    assert report.losses == pytest.approx([entry["loss"] for entry in history])  # what the Trainer logged
    assert report.lrs == pytest.approx([entry["learning_rate"] for entry in history])
    assert report.lrs is not None and report.lrs[0] == pytest.approx(1e-2)


def test_hf_callback_is_a_no_op_without_the_variable(
    built: Materialised, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("QLORA_CHECK_METRICS", raising=False)
    monkeypatch.chdir(tmp_path)
    assert run_hf_trainer(built, tmp_path / "out")
    assert not list(tmp_path.rglob("*.jsonl"))


def run_mlx_train(built: Materialised, adapters: Path) -> None:
    import mlx.optimizers as optim
    from mlx_lm import load
    from mlx_lm.tuner.datasets import CacheDataset, TextDataset
    from mlx_lm.tuner.trainer import TrainingArgs, train
    from mlx_lm.tuner.utils import linear_to_lora_layers

    from qlora_check.integrations.mlx import MetricsCallback

    model, tokenizer = load(str(built.model))
    model.freeze()
    linear_to_lora_layers(model, 2, {"rank": 4, "scale": 10.0, "dropout": 0.0})
    data = CacheDataset(TextDataset(rows(built), tokenizer))
    args = TrainingArgs(
        batch_size=4, iters=STEPS, steps_per_report=1, steps_per_eval=1000, adapter_file=str(adapters)
    )
    train(model, optim.Adam(learning_rate=1e-2), data, None, args=args, training_callback=MetricsCallback())


def test_mlx_callback_writes_one_protocol_line_per_report(
    built: Materialised, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    metrics = tmp_path / "metrics.jsonl"
    monkeypatch.setenv("QLORA_CHECK_METRICS", str(metrics))
    run_mlx_train(built, tmp_path / "adapters.safetensors")
    report = make_reader("jsonl").read(ReaderInput(tmp_path, tmp_path / "stdout.log", metrics))
    assert [point.step for point in report.points] == list(range(1, STEPS + 1))
    assert report.lrs == pytest.approx([1e-2] * STEPS)
    assert all(4.0 < loss < 8.0 for loss in report.losses)
    monkeypatch.delenv("QLORA_CHECK_METRICS")
    metrics.unlink()
    run_mlx_train(built, tmp_path / "adapters.safetensors")
    assert not metrics.exists()
