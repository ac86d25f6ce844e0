"""The command runner's pieces: argv per cell, how a trainer's end becomes a status, the checks on its points."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from qlora_check.matrix.axes import normalise_values
from qlora_check.matrix.cell import Cell
from qlora_check.matrix.runners import parse_runners
from qlora_check.runners.command import build_argv, classify, judge
from qlora_check.runners.readers import make_reader
from qlora_check.runners.readers.interface import ReaderInput
from qlora_check.runners.trainer_process import TrainerOutcome

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "trainers"
TRL = parse_runners(
    {
        "trl": {
            "command": "trl sft --model_name_or_path {model} --max_steps {steps} --learning_rate {lr} --name {dataset}",
            "args": {"train_type": {"qlora": ["--load_in_4bit"]}},
            "metrics": "hf",
            "schedule": "{scheduler}",
            "artifact": "out/adapter_model.safetensors",
        }
    }
)["trl"]


def cell(**values: object) -> Cell:
    return Cell.from_values(normalise_values({"runner": "trl", "steps": 30, "lr": 0.01, **values}))


def test_argv_is_filled_per_element_with_the_axis_args_appended() -> None:
    values = {"model": "/m", "steps": "30", "lr": "0.01", "dataset": ";rm -rf x"}
    argv = build_argv(cell(train_type="qlora", dataset=";rm -rf x"), TRL, values)
    assert argv == [
        "trl", "sft", "--model_name_or_path", "/m", "--max_steps", "30", "--learning_rate", "0.01",
        "--name", ";rm -rf x", "--load_in_4bit",
    ]  # fmt: skip
    assert build_argv(cell(train_type="lora"), TRL, values)[-1] == ";rm -rf x"


def outcome(code: int | None, **kwargs: object) -> TrainerOutcome:
    return TrainerOutcome(returncode=code, timed_out=bool(kwargs.get("timed_out")), duration_s=1.0, peak_rss_mb=1.0,
                          not_started=kwargs.get("not_started"))  # type: ignore[arg-type]  # fmt: skip


@pytest.mark.parametrize(
    ("trainer_output", "ended", "status", "reason"),
    [
        ("", outcome(None, not_started="trl: No such file or directory"), "error", "command could not start: trl"),
        ("step 1\n", outcome(-9, timed_out=True), "timeout", "past the runner's timeout of 60 s"),
        ("step 1\n", outcome(-signal.SIGSEGV), "crash", "trainer killed by SIGSEGV"),
        ("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2 GiB\n", outcome(1), "oom", "out of memory"),
        (
            "Traceback (most recent call last):\n  File x\nOSError: /nope is not a local folder\nsome footer\n",
            outcome(1),
            "error",
            "trainer exited with 1: OSError: /nope is not a local folder",
        ),
        ("usage: trl sft ...\nerror: unrecognized arguments: --bad\n", outcome(2), "error", "unrecognized arguments"),
    ],
)
def test_how_the_trainer_ended_decides_the_status(
    trainer_output: str, ended: TrainerOutcome, status: str, reason: str, tmp_path: Path
) -> None:
    (tmp_path / "stdout.log").write_text(trainer_output)
    failure = classify(ended, tmp_path / "stdout.log", 60.0)
    assert failure is not None and failure.status == status and reason in failure.reason
    assert "\n" not in failure.reason


def test_a_clean_exit_is_no_failure(tmp_path: Path) -> None:
    (tmp_path / "stdout.log").write_text("done\n")
    assert classify(outcome(0), tmp_path / "stdout.log", None) is None


def test_real_trl_output_passes_every_check_with_its_linear_schedule(tmp_path: Path) -> None:
    report = make_reader("hf").read(ReaderInput(FIXTURES / "hf", FIXTURES / "hf" / "stdout.log", tmp_path / "m"))
    values = {"work_dir": str(FIXTURES / "hf"), "scheduler": "linear"}
    checks, not_checked = judge(cell(scheduler="linear"), TRL, report, values, margin=0.1)
    by_name = {check.name: check for check in checks}
    assert not_checked == {}
    assert by_name["lr_schedule"].passed, by_name["lr_schedule"].detail  # TRL ran the closed-form linear decay
    assert by_name["learned"].passed and by_name["finite"].passed and by_name["steps"].passed
    assert not by_name["artifact"].passed  # the fixture keeps no adapter file: the check notices


def test_the_wrong_schedule_fails_and_no_lr_means_not_checked(tmp_path: Path) -> None:
    report = make_reader("hf").read(ReaderInput(FIXTURES / "hf", FIXTURES / "hf" / "stdout.log", tmp_path / "m"))
    values = {"work_dir": str(tmp_path), "scheduler": "cosine"}
    checks, _ = judge(cell(scheduler="cosine"), TRL, report, values, margin=0.1)
    assert not {check.name: check for check in checks}["lr_schedule"].passed
    mlx = make_reader("mlx-lm").read(ReaderInput(FIXTURES / "mlx-lm", FIXTURES / "mlx-lm" / "stdout.log", tmp_path))
    checks, not_checked = judge(cell(), TRL, mlx, values, margin=0.1)
    assert "lr_schedule" not in {check.name for check in checks}
    assert not_checked == {"lr_schedule": "reader mlx-lm saw no learning rate"}


def test_no_points_is_a_failed_metrics_check_with_the_reader_s_words(tmp_path: Path) -> None:
    (tmp_path / "stdout.log").write_text("nothing useful\n")
    report = make_reader("hf").read(ReaderInput(tmp_path, tmp_path / "stdout.log", tmp_path / "m"))
    checks, _ = judge(cell(), TRL, report, {"work_dir": str(tmp_path)}, margin=0.1)
    assert [(c.name, c.passed, c.detail) for c in checks] == [
        ("metrics", False, "no loss lines found (reader hf read stdout.log, 0 matches)")
    ]
