"""The shipped scheduling examples only use commands and options the CLI really has."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import typer.main
import yaml

from qlora_check.cli import app

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
WORKFLOW = EXAMPLES / "github" / "qlora-check-nightly.yml"


def invocations(shell: str) -> list[list[str]]:
    """Every `qlora-check ...` command in a shell snippet, with GitHub expressions filled in."""
    shell = re.sub(r"\$\{\{\s*matrix\.shard\s*\}\}", "1", shell)
    shell = re.sub(r"\$\{\{[^}]*\}\}", "x", shell)
    found = []
    for line in shell.splitlines():
        for part in re.split(r"\|\||&&|;|>>|\|", line):
            words = shlex.split(part.strip(), comments=True)
            words = words[5:] if words[:1] and re.fullmatch(r"[\d*,/-]+", words[0]) else words  # a crontab's time
            if words and Path(words[0]).name == "qlora-check":
                found.append(words[1:])
    return found


def assert_valid(arguments: list[str]) -> None:
    group = typer.main.get_command(app)
    name, *rest = arguments
    command = group.commands.get(name)  # type: ignore[attr-defined]
    assert command is not None, f"qlora-check has no command {name!r}"
    command.make_context(name, list(rest))  # raises click.UsageError on an unknown option or bad value


def test_the_github_workflow_parses_and_its_commands_exist() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    jobs = workflow["jobs"]
    assert set(jobs) == {"shard", "merge"} and jobs["merge"]["needs"] == "shard"
    assert jobs["shard"]["strategy"]["matrix"]["shard"] == [1, 2, 3, 4]
    commands = [
        words for job in jobs.values() for step in job["steps"] if "run" in step for words in invocations(step["run"])
    ]
    assert {words[0] for words in commands} >= {"run", "merge", "report", "doctor"}
    for words in commands:
        assert_valid(words)


@pytest.mark.parametrize("name", ["crontab.txt", "qlora-check-nightly.service"])
def test_cron_and_systemd_commands_exist(name: str) -> None:
    text = (EXAMPLES / name).read_text()
    if name.endswith(".service"):
        lines = [line.split("=", 1)[1] for line in text.splitlines() if line.startswith("ExecStart=")]
    else:
        lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    commands = invocations("\n".join(lines))
    assert commands
    for words in commands:
        assert_valid(words)
