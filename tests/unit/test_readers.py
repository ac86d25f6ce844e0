"""Every metrics reader over output captured from (or written to the exact format of) its trainer."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from qlora_check.runners.readers import READERS, make_reader
from qlora_check.runners.readers.interface import ReaderError, ReaderInput
from qlora_check.runners.readers.jsonl import protocol_line

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "trainers"


def where(folder: Path) -> ReaderInput:
    return ReaderInput(work_dir=folder, output=folder / "stdout.log", metrics=folder / "metrics.jsonl")


def copied(name: str, tmp_path: Path) -> Path:
    target = tmp_path / name
    shutil.copytree(FIXTURES / name, target)
    return target


def test_every_registered_reader_loads_and_has_its_name() -> None:
    assert set(READERS.names()) == {"jsonl", "hf", "mlx-lm", "llamafactory", "torchtune", "fsdp-qlora", "regex"}
    for name in READERS.names():
        assert READERS.get(name).name == name


def test_mlx_lm_reads_the_training_rows_not_the_val_rows() -> None:
    report = make_reader("mlx-lm").read(where(FIXTURES / "mlx-lm"))
    assert [p.step for p in report.points] == list(range(1, 31))
    assert report.points[0].loss == pytest.approx(6.056) and report.points[-1].loss == pytest.approx(4.486)
    assert 4.600 not in report.losses and 6.034 not in report.losses  # validation rows at 1, 15, 30
    assert report.lrs is None and report.source == "stdout.log" and report.matches == 30


def test_mlx_lm_older_one_line_reports(tmp_path: Path) -> None:
    (tmp_path / "stdout.log").write_text(
        "Iter 1: Val loss 6.100, Val took 0.2s\n"
        "Iter 10: Train loss 2.345, Learning Rate 1.000e-05, It/sec 3.2, Tokens/sec 900\n"
        "Iter 20: Train loss nan, Learning Rate 1.000e-05, It/sec 3.2\n"
    )
    report = make_reader("mlx-lm").read(where(tmp_path))
    assert [(p.step, p.lr) for p in report.points] == [(10, 1e-05), (20, 1e-05)]
    assert math.isnan(report.points[1].loss)  # a diverged run reaches the finite check


def test_hf_prefers_the_latest_checkpoint_trainer_state(tmp_path: Path) -> None:
    folder = copied("hf", tmp_path)
    report = make_reader("hf").read(where(folder))
    assert report.source == "out/checkpoint-30/trainer_state.json" and report.matches == 30
    assert report.points[0].loss == pytest.approx(5.98797, rel=1e-5)
    assert report.points[-1].step == 30 and report.points[-1].lr == pytest.approx(0.0003333, rel=1e-3)
    early = folder / "out" / "checkpoint-10"
    early.mkdir()
    state = json.loads((folder / "out" / "checkpoint-30" / "trainer_state.json").read_text())
    (early / "trainer_state.json").write_text(
        json.dumps({**state, "global_step": 10, "log_history": state["log_history"][:10]})
    )
    assert make_reader("hf").read(where(folder)).matches == 30


def test_hf_falls_back_to_the_console_dicts_with_string_values(tmp_path: Path) -> None:
    folder = copied("hf", tmp_path)
    shutil.rmtree(folder / "out")
    report = make_reader("hf").read(where(folder))
    assert report.source == "stdout.log" and report.matches == 30  # the summary dict has train_loss only
    assert report.points[0].loss == pytest.approx(5.988) and report.points[0].lr == pytest.approx(0.01)
    assert report.points[-1].loss == pytest.approx(4.184)


def test_llamafactory_skips_the_summary_line() -> None:
    report = make_reader("llamafactory").read(where(FIXTURES / "llamafactory"))
    assert report.source == "out/trainer_log.jsonl" and [p.step for p in report.points] == list(range(1, 11))
    assert report.points[0].loss == 5.9912 and report.points[0].lr == 0.01
    assert report.lrs is not None


def test_torchtune_reads_the_disk_logger_file() -> None:
    report = make_reader("torchtune").read(where(FIXTURES / "torchtune"))
    assert report.source == "out/logs/log_1764538201.txt" and report.matches == 10
    assert report.points[0].loss == pytest.approx(5.98416, rel=1e-5)
    assert report.points[0].lr == pytest.approx(0.0097553, rel=1e-4)


def test_fsdp_qlora_keeps_the_last_frame_per_step() -> None:
    report = make_reader("fsdp-qlora").read(where(FIXTURES / "fsdp-qlora"))
    assert [p.step for p in report.points] == list(range(1, 11))
    # frame "Loss 5.954 … 2/10" (stale, drawn by update) is replaced by "Loss 5.917 … 2/10"
    assert report.losses[:3] == [5.954, 5.917, 5.873] and report.points[0].lr == 5e-3
    assert 0.0 not in report.losses


def test_jsonl_reads_the_protocol_and_survives_a_cut_line(tmp_path: Path) -> None:
    lines = protocol_line(1, 5.5, 0.01) + protocol_line(2, float("nan")) + '{"step": 3, "lo'
    (tmp_path / "metrics.jsonl").write_text(lines)
    report = make_reader("jsonl").read(where(tmp_path))
    assert report.matches == 2 and report.points[0].lr == 0.01 and math.isnan(report.points[1].loss)
    assert report.lrs is None  # not every point has an lr


def test_regex_with_named_groups_and_a_file_glob(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "train.txt").write_text("step=1 loss=3.5 lr=0.1\nnoise\nstep=2 loss=3.0 lr=0.1\n")
    reader = make_reader(
        {"regex": r"step=(?P<step>\d+) loss=(?P<loss>[\d.]+) lr=(?P<lr>[\d.]+)", "file": "logs/*.txt"}
    )
    report = reader.read(where(tmp_path))
    assert report.source == "logs/train.txt" and [(p.step, p.loss, p.lr) for p in report.points] == [
        (1, 3.5, 0.1),
        (2, 3.0, 0.1),
    ]


@pytest.mark.parametrize("name", ["mlx-lm", "hf", "llamafactory", "torchtune", "fsdp-qlora", "jsonl"])
def test_a_reader_that_finds_nothing_says_which_file_it_read(name: str, tmp_path: Path) -> None:
    (tmp_path / "stdout.log").write_text("Traceback (most recent call last):\nOSError: no such model\n")
    report = make_reader(name).read(where(tmp_path))
    assert report.points == () and report.matches == 0
    assert report.empty_reason().startswith(f"no loss lines found (reader {name} read ")
    assert report.empty_reason().endswith(", 0 matches)")


def test_mlx_output_read_with_the_wrong_reader_finds_nothing() -> None:
    report = make_reader("torchtune").read(where(FIXTURES / "mlx-lm"))
    assert report.empty_reason() == "no loss lines found (reader torchtune read stdout.log, 0 matches)"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("tensorboard", "unknown metrics reader 'tensorboard'"),
        ({"regex": "(no loss group)"}, "no named group 'loss'"),
        ({"regex": "(?P<loss>[unclosed"}, "does not compile"),
        ({"regex": r"(?P<loss>\d) (?P<epoch>\d)"}, "unknown: epoch"),
        ({"reader": "hf", "file": "x"}, "takes no option file"),
        ("regex", "needs a pattern"),
        (["hf"], "takes a reader name"),
    ],
)
def test_bad_reader_configuration_is_bad_input(config: object, message: str) -> None:
    with pytest.raises(ReaderError, match=message):
        make_reader(config)
