"""The run directory: run.json, results.jsonl (appended as each cell ends), logs/, a lock file.

results.jsonl is written one complete line at a time (flushed and fsynced) under a thread lock, so a
killed run loses at most the line being written; readers skip a torn last line with a warning.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from qlora_check.errors import ResultsError, RunLockedError
from qlora_check.fileio import write_atomically
from qlora_check.results.models import RESULT_SCHEMA_VERSION, CellResult, Status

RUN_SCHEMA_VERSION = 2
RUN_FILE = "run.json"
RESULTS_FILE = "results.jsonl"
LOCK_FILE = ".lock"
LOGS_DIR = "logs"
LATEST = "latest"


Document = dict[str, Any]


def _results_update_to_2(data: Document) -> Document:
    """v2 added `attempts` (earlier attempts of a retried cell) and `expected` (a matching expect rule)."""
    return {**data, "attempts": [], "expected": None, "schema_version": 2}


def _run_update_to_2(data: Document) -> Document:
    """v2 added `resumes` (when the run was resumed) and `settings.retries`."""
    settings = {"retries": 0, **data.get("settings", {})}
    return {**data, "resumes": [], "settings": settings, "schema_version": 2}


Migrations = dict[int, Callable[[Document], Document]]
# Each reader steps an older document through update_to_N in order (asv's way).
RESULT_MIGRATIONS: Migrations = {2: _results_update_to_2}
RUN_MIGRATIONS: Migrations = {2: _run_update_to_2}


def migrate(
    path: Path, data: Document, current: int, migrations: dict[int, Callable[[Document], Document]]
) -> Document:
    """Refuse newer documents; bring older ones up to ``current``."""
    version = data.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ResultsError(f"{path}: missing or invalid schema_version")
    if version > current:
        raise ResultsError(
            f"{path}: schema_version {version} is newer than this qlora-check reads (up to {current})",
            tip="upgrade qlora-check to read this run",
        )
    for target in range(version + 1, current + 1):
        data = migrations[target](data)
    return data


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def default_run_dir(root: Path, hostname: str) -> Path:
    """reports/runs/<UTC time>-<host>, the host name made safe for a path."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    safe_host = re.sub(r"[^A-Za-z0-9_-]", "_", hostname)[:64] or "host"
    candidate = root / "runs" / f"{stamp}-{safe_host}"
    suffix = 1
    while candidate.exists():
        suffix += 1
        candidate = root / "runs" / f"{stamp}-{safe_host}-{suffix}"
    return candidate


def _same_file(descriptor: int, path: Path) -> bool:
    try:
        return os.fstat(descriptor).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        return False


@dataclass
class RunWriter:
    """Writes one run directory; the single writer of its results.jsonl (guarded by a lock file)."""

    path: Path
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _lock_descriptor: int | None = field(default=None, repr=False)

    @property
    def logs(self) -> Path:
        return self.path / LOGS_DIR

    def acquire(self) -> None:
        """Take the directory's lock: an advisory ``flock`` the kernel releases when this process dies, so a
        crashed writer never leaves the run locked, and a live one is always detected."""
        self.path.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(exist_ok=True)
        lock = self.path / LOCK_FILE
        for _ in range(5):
            descriptor = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                owner = os.read(descriptor, 64).decode(errors="replace").strip() or "unknown"
                os.close(descriptor)
                raise RunLockedError(f"{self.path}: another qlora-check (pid {owner}) is writing this run") from None
            if _same_file(descriptor, lock):  # else a writer released (and removed) it between open and flock
                os.ftruncate(descriptor, 0)
                os.pwrite(descriptor, str(os.getpid()).encode(), 0)
                self._lock_descriptor = descriptor
                return
            os.close(descriptor)
        raise RunLockedError(f"{self.path}: could not take the run lock")

    def release(self) -> None:
        descriptor, self._lock_descriptor = self._lock_descriptor, None
        if descriptor is not None:
            with contextlib.suppress(OSError):
                (self.path / LOCK_FILE).unlink()  # while still holding it: see acquire's inode check
            os.close(descriptor)  # closing drops the flock

    def write_run(self, run: dict[str, Any]) -> None:
        """Write run.json atomically (temp file + rename)."""
        document = {"schema_version": RUN_SCHEMA_VERSION, **run}
        write_atomically(self.path / RUN_FILE, json.dumps(document, indent=2, sort_keys=False) + "\n")

    def append(self, result: CellResult) -> None:
        """Append one result as one complete, fsynced line."""
        line = json.dumps(result.to_dict(), separators=(",", ":"), allow_nan=False) + "\n"
        with self._lock, open(self.path / RESULTS_FILE, "a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())

    def log_path(self, cell_id: str, attempt: int = 1) -> Path:
        name = f"{cell_id}.log" if attempt == 1 else f"{cell_id}.attempt{attempt}.log"
        return self.logs / name


def point_latest(root: Path, run_dir: Path) -> None:
    """Make root/latest a symlink to run_dir (relative when inside root), replaced atomically."""
    root.mkdir(parents=True, exist_ok=True)
    link = root / LATEST
    try:
        target: Path = run_dir.resolve().relative_to(root.resolve())
    except ValueError:
        target = run_dir.resolve()
    temporary = root / f".{LATEST}.tmp"
    with contextlib.suppress(FileNotFoundError):
        temporary.unlink()
    os.symlink(target, temporary)
    os.replace(temporary, link)


def read_run(run_dir: Path) -> dict[str, Any]:
    """run.json of a run directory, checked for a schema version this qlora-check reads."""
    path = run_dir / RUN_FILE
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultsError(f"{run_dir}: not a run directory (no {RUN_FILE})") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ResultsError(f"{path}: unreadable: {exc}") from None
    if not isinstance(document, dict):
        raise ResultsError(f"{path}: not a JSON object")
    return migrate(path, document, RUN_SCHEMA_VERSION, RUN_MIGRATIONS)


@dataclass
class ResultsRead:
    """Results read back from a run, with any warnings (a torn last line, for one)."""

    results: list[CellResult]
    warnings: list[str]

    def final(self) -> dict[str, CellResult]:
        """The last final result of each cell, by cell id, in first-seen order."""
        latest: dict[str, CellResult] = {}
        for result in self.results:
            if result.status.is_final or result.cell_id not in latest:
                latest[result.cell_id] = result
        return latest


def read_results(run_dir: Path) -> ResultsRead:
    """Every result line of a run, oldest first."""
    path = run_dir / RESULTS_FILE
    if not path.exists():
        return ResultsRead([], [])
    try:
        lines = path.read_bytes().split(b"\n")
    except OSError as exc:
        raise ResultsError(f"{path}: unreadable: {exc.strerror or exc}") from None
    results: list[CellResult] = []
    warnings: list[str] = []
    last_index = max((i for i, line in enumerate(lines) if line.strip()), default=-1)
    for index, raw in enumerate(lines):
        if not raw.strip():
            continue
        try:
            data = json.loads(raw.decode("utf-8"))
            if not isinstance(data, dict):
                raise ValueError("not an object")
            data = migrate(path, data, RESULT_SCHEMA_VERSION, RESULT_MIGRATIONS)
            results.append(CellResult.from_dict(data))
        except ResultsError:
            raise
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
            if index == last_index:
                warnings.append(f"{path}: skipped a torn last line ({exc.__class__.__name__})")
                continue
            raise ResultsError(f"{path}: line {index + 1} is not a valid result: {exc}") from None
    return ResultsRead(results, warnings)


def summarise(results: dict[str, CellResult]) -> dict[str, int]:
    """Counts by status, every status present (zero included) for stable reports."""
    counts = {status.value: 0 for status in Status}
    for result in results.values():
        counts[result.status.value] += 1
    return counts
