"""The run directory: its files, its write protocol, its lock and its readers.

This module is the only code that knows the paths inside a run. A run directory holds

    config.yaml     the resolved config (every default filled in, paths absolute); written first
    data.json       what the run was trained on: the data's digest and the size of each part
    split.npz       the row indices of the train, val and test parts (plain int64 arrays)
    metrics.jsonl   one JSON object per epoch, appended
    resume.npz      weights, optimizer and trainer state: everything needed to continue
    model.npz       the final model (the core's checkpoint format)
    summary.json    final figures and the model's SHA-256; written last: it marks completion
    .lock           the writer's lock (flock, released by the OS when the process dies)
    .staged/        a change being built beside a complete run (extension, --overwrite)

The protocol, after git's and SQLite's (see shared/STYLE.md):

- One writer: a process writes a run only while it holds an exclusive `flock` on `.lock`. A
  second writer is refused at once, naming the holder's process id.
- Every file is replaced by writing a temporary file, checking every byte, fsync, rename,
  fsync of the directory (`mlp.checkpoint.atomic_write`). Appends to metrics.jsonl check every
  byte and cut a short write back off, so a full disk never leaves two records run together.
- Complete means summary.json is present and names the SHA-256 of the model.npz beside it.
  Anything short of that is resumable: `mlp train --resume` continues from resume.npz, or from
  the start when the run was killed before its first save (config.yaml is written first).
- A change to a complete run (more epochs, or --overwrite) is built in `.staged/`, itself a
  run directory, while the complete run stays exactly as it was. The change is committed when
  `.staged/summary.json` exists; the files are then moved over the run's, summary.json last.
  A reader that meets a committed `.staged/` reads each file from there while it still holds
  it; the next writer finishes the moves. An uncommitted `.staged/` (the change was killed or
  interrupted) is resumed by `mlp train --resume RUN` or replaced by another --overwrite.

Readers never trust a file: a file that cannot be read makes the run `damaged`, with a line
that names the file, and the other runs of a folder are still listed.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from cli import environment
from mlp.checkpoint import (
    Checkpoint,
    CheckpointError,
    TrainingState,
    atomic_write,
    fsync_directory,
    load_training_state,
    save_checkpoint,
    save_training_state,
    write_all,
)
from mlp.npz import Archive, NpzError

FORMAT_VERSION = 2  # 1: runs saved before runs recorded their data (no data.json)

CONFIG_FILE = "config.yaml"
DATA_FILE = "data.json"
SPLIT_FILE = "split.npz"
METRICS_FILE = "metrics.jsonl"
RESUME_FILE = "resume.npz"
MODEL_FILE = "model.npz"
SUMMARY_FILE = "summary.json"
LOCK_FILE = ".lock"
STAGED_DIR = ".staged"
# In the order a committed change is moved into place: summary.json last, so that until it
# moves, the change is still visibly pending.
RUN_FILES = (
    CONFIG_FILE,
    DATA_FILE,
    SPLIT_FILE,
    METRICS_FILE,
    RESUME_FILE,
    MODEL_FILE,
    SUMMARY_FILE,
)
# The order in which a new run writes its files (split.npz before the data.json that describes
# it; summary.json last), which an imported run follows.
_WRITE_ORDER = (
    CONFIG_FILE,
    SPLIT_FILE,
    DATA_FILE,
    METRICS_FILE,
    RESUME_FILE,
    MODEL_FILE,
    SUMMARY_FILE,
)
SPLITS = ("train", "val", "test")
DEFAULT_ROOT = Path("runs")
# atomic_write's temporary files: ".model.npz.<random>.tmp" beside model.npz, and so on
_TEMPORARY = re.compile(r"^\.(" + "|".join(map(re.escape, RUN_FILES)) + r")\.\w+\.tmp$")


class RunError(Exception):
    """A run directory that cannot be used as asked; one line naming it."""


# -- fault injection: the test suite kills a real process at every step of the protocol --------

_steps_taken = 0
_KILL_AT_STEP: int | None = None  # set directly by tests that fork; else the variable's value


def _kill_step() -> int:
    """MLP_TEST_KILL_AT_STEP, checked: 0 (unset) never kills."""
    if _KILL_AT_STEP is not None:
        return _KILL_AT_STEP
    return environment.integer("MLP_TEST_KILL_AT_STEP", 0)


def _step() -> None:
    """Mark one step of the write protocol (before and after each rename, each append).

    With MLP_TEST_KILL_AT_STEP=N in the environment the process SIGKILLs itself at step N, as
    SQLite's crash tests cut its write sequence; nothing else ever sets it.
    """
    global _steps_taken
    _steps_taken += 1
    if _steps_taken == _kill_step():
        os.kill(os.getpid(), signal.SIGKILL)


def _replace(path: Path, write) -> None:
    _step()
    atomic_write(path, write)
    _step()


def _write_text(path: Path, text: str) -> None:
    _replace(path, lambda file: file.write(text.encode("utf-8")))


def _write_json(path: Path, obj: object) -> None:
    _write_text(path, json.dumps(obj, indent=2) + "\n")


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file, read in chunks (constant memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# -- the lock ------------------------------------------------------------------------------------


class RunLock:
    """An exclusive `flock` on `RUN/.lock`; the OS releases it when the process dies."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / LOCK_FILE
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _lock_holder(fd)
            os.close(fd)
            raise RunError(
                f"{run_dir}: busy: {holder} is writing this run; wait for it to finish, "
                "or stop it first"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd: int | None = fd

    def release(self) -> None:
        """Give the lock back (closing the file releases the flock)."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _lock_holder(fd: int) -> str:
    """'process 1234' from the lock file's content, as far as it can be read."""
    with contextlib.suppress(OSError, ValueError):
        os.lseek(fd, 0, os.SEEK_SET)
        return f"process {int(os.read(fd, 32).decode().strip())}"
    return "another mlp process"


def lock_holder(run_dir: Path) -> str | None:
    """Who holds the run's lock ('process 1234'), or None when no live process does."""
    try:
        fd = os.open(run_dir / LOCK_FILE, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _lock_holder(fd)
    finally:
        os.close(fd)  # also drops the shared lock just taken
    return None


# -- reading the files of one directory (a run, or its staged change) --------------------------


def _overlay(run_dir: Path, name: str) -> Path:
    """Where `name` is to be read: from a committed staged change while it still holds it."""
    staged = run_dir / STAGED_DIR
    if (staged / SUMMARY_FILE).is_file() and (staged / name).exists():
        return staged / name
    return run_dir / name


def _read(run_dir: Path, name: str, read):
    """read(path) of the run's current `name`, retrying once if a commit moved it meanwhile."""
    try:
        return read(_overlay(run_dir, name))
    except FileNotFoundError:
        return read(run_dir / name)


def _damaged(run_dir: Path, name: str, why: str) -> RunError:
    return RunError(f"{run_dir / name}: damaged ({why})")


def read_json(run_dir: Path, name: str) -> dict:
    """A JSON object file of the run; RunError naming the file if it is not one."""
    try:
        text = _read(run_dir, name, lambda p: p.read_text(encoding="utf-8"))
        value = json.loads(text)
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise _damaged(run_dir, name, str(err).splitlines()[0]) from None
    if not isinstance(value, dict):
        raise _damaged(run_dir, name, "not a JSON object")
    return value


def read_metrics(run_dir: Path) -> list[dict]:
    """The epochs of metrics.jsonl. A last line cut short by a crash is left out; a bad line
    anywhere else means the file is damaged."""
    try:
        text = _read(run_dir, METRICS_FILE, lambda p: p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as err:
        raise _damaged(run_dir, METRICS_FILE, str(err)) from None
    lines = text.split("\n")
    complete, last = lines[:-1], lines[-1]  # `last` is "" unless a write was cut short
    records = []
    for number, line in enumerate(complete, start=1):
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if not isinstance(record, dict) or record.get("epoch") != number:
            raise _damaged(run_dir, METRICS_FILE, f"line {number} is not epoch {number}'s record")
        records.append(record)
    del last  # a partial record from a process killed mid-append: never counted
    return records


def read_config_text(run_dir: Path) -> str:
    """config.yaml's text."""
    try:
        return _read(run_dir, CONFIG_FILE, lambda p: p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunError(f"{run_dir}: not a run directory (no {CONFIG_FILE})") from None
    except (OSError, UnicodeDecodeError) as err:
        raise _damaged(run_dir, CONFIG_FILE, str(err)) from None


def read_state(run_dir: Path) -> TrainingState | None:
    """resume.npz, or None when the run has not saved one yet."""
    try:
        return _read(run_dir, RESUME_FILE, load_training_state)
    except CheckpointError as err:
        if not _overlay(run_dir, RESUME_FILE).exists():
            return None
        raise RunError(f"{err}") from None


def read_split(run_dir: Path) -> dict[str, np.ndarray]:
    """The recorded row indices of each part ("train", and "val"/"test" where the run has them)."""

    def load(path: Path) -> dict[str, np.ndarray]:
        with Archive(path) as archive:  # headers checked before any array is read
            members = archive.members
            if "train" not in members or set(members) - set(SPLITS):
                raise NpzError(f"holds {sorted(members)}, not the parts {', '.join(SPLITS)}")
            for name, member in members.items():
                if member.ndim != 1 or member.dtype.kind not in "iu":
                    raise NpzError(f"{name} is not a list of row numbers")
            return {name: archive.read(name).astype(np.int64) for name in members}

    try:
        parts = _read(run_dir, SPLIT_FILE, load)
    except FileNotFoundError:
        raise _damaged(run_dir, SPLIT_FILE, "missing") from None
    except (OSError, NpzError, zipfile.BadZipFile) as err:
        raise _damaged(run_dir, SPLIT_FILE, str(err).splitlines()[0]) from None
    return {name: rows for name, rows in parts.items() if len(rows) or name == "train"}


def read_data_record(run_dir: Path) -> dict:
    """data.json: what the run was trained on. Runs of format 1 have none and are refused."""
    try:
        record = read_json(run_dir, DATA_FILE)
    except FileNotFoundError:
        raise RunError(
            f"{run_dir}: a run of format version 1, which does not record its data, so its "
            f"split cannot be checked; train it again with this mlp (format {FORMAT_VERSION})"
        ) from None
    if record.get("format") != FORMAT_VERSION or not isinstance(record.get("source"), dict):
        raise _damaged(run_dir, DATA_FILE, f"not a format {FORMAT_VERSION} data record")
    return record


def describe_data_change(recorded: dict, now: dict) -> str:
    """One line: what differs between the data a run recorded and the data found now."""
    name = recorded.get("path") or recorded.get("name")
    if recorded.get("kind") != now.get("kind"):
        return f"{name}: the run was trained on {recorded.get('kind')} data, not {now.get('kind')}"
    details = [
        f"{key} {recorded.get(key)} -> {now.get(key)}"
        for key in ("path", "size")
        if key in recorded and recorded.get(key) != now.get(key)
    ]
    if now.get("sha256"):
        details.append(f"sha256 {recorded.get('sha256', '')[:12]}... -> {now['sha256'][:12]}...")
    return f"{name}: differs from the data the run recorded ({', '.join(details)})"


# -- the state of a run, as `mlp runs` shows it ----------------------------------------------


@dataclass
class RunState:
    """What a reader can tell about a run directory without trusting any of its files."""

    path: Path
    status: str  # completed, running, interrupted, failed or damaged
    problem: str | None = None  # why it is damaged, or what is pending
    config_text: str | None = None
    summary: dict | None = None
    metrics: list[dict] = field(default_factory=list)
    pending: str | None = None  # a staged change that was interrupted, if any


def is_run(path: Path) -> bool:
    """True when `path` looks like a run directory (it has, or had, a config)."""
    return (path / CONFIG_FILE).is_file() or (path / STAGED_DIR / SUMMARY_FILE).is_file()


def completed_summary(run_dir: Path) -> dict | None:
    """summary.json when the run is complete (its model is the one the summary names), None
    when the run is not complete; RunError when either file is damaged."""
    try:
        summary = read_json(run_dir, SUMMARY_FILE)
    except FileNotFoundError:
        return None
    if "format" not in summary:  # format 1: no digest to check; eval refuses it by its format
        return summary
    expected = summary.get("model_sha256")
    try:
        actual = _read(run_dir, MODEL_FILE, file_sha256)
    except FileNotFoundError:
        raise _damaged(run_dir, MODEL_FILE, f"missing, though {SUMMARY_FILE} is there") from None
    except OSError as err:
        raise _damaged(run_dir, MODEL_FILE, str(err)) from None
    if actual != expected:
        raise _damaged(run_dir, MODEL_FILE, f"it is not the model {SUMMARY_FILE} describes")
    return summary


def _check_config(run_dir: Path, text: str) -> None:
    from cli.config import ConfigError, loads_config

    try:
        loads_config(text, source=CONFIG_FILE)
    except ConfigError as err:
        raise _damaged(run_dir, CONFIG_FILE, str(err)) from None


def inspect_run(run_dir: Path) -> RunState:
    """The run's true status: completed, running, interrupted, failed or damaged."""
    state = RunState(run_dir, "interrupted")
    try:
        state.config_text = read_config_text(run_dir)
        _check_config(run_dir, state.config_text)
        state.metrics = read_metrics(run_dir)
        if _read(run_dir, DATA_FILE, Path.exists):  # format 1 runs have none
            read_data_record(run_dir)
            read_split(run_dir)
        holder = lock_holder(run_dir)
        staged = run_dir / STAGED_DIR
        if (staged / CONFIG_FILE).is_file() and not (staged / SUMMARY_FILE).is_file():
            state.pending = (
                f"a change was interrupted; continue it with mlp train --resume {run_dir}"
            )
        state.summary = completed_summary(run_dir)
        if holder is not None:
            state.status, state.problem = "running", f"written by {holder}"
        elif state.summary is not None:
            state.status = "completed"
        else:
            saved = read_state(run_dir)
            failed = saved is not None and saved.info.get("status") == "failed"
            state.status = "failed" if failed else "interrupted"
    except RunError as err:
        state.status, state.problem = "damaged", str(err)
    return state


# -- a completed run, for eval and predict ------------------------------------------------------


@dataclass(frozen=True)
class CompletedRun:
    """The files `mlp eval` and `mlp predict` need, each read and checked."""

    path: Path
    config_text: str
    data: dict  # data.json
    split: dict[str, np.ndarray]
    model_path: Path
    summary: dict


def locate(run: Path) -> Path:
    """The run directory for RUN given as the directory or its model.npz."""
    if run.is_file() and run.name == MODEL_FILE:
        return run.parent
    if not run.is_dir():
        raise RunError(f"{run}: not a run directory")
    return run


def open_completed(run: Path) -> CompletedRun:
    """A complete run, every file checked; RunError with one line otherwise."""
    run_dir = locate(run)
    config_text = read_config_text(run_dir)
    summary = completed_summary(run_dir)
    if summary is None:
        state = inspect_run(run_dir)
        hint = (
            "it diverged: train again with a smaller lr"
            if state.status == "failed"
            else f"finish it with: mlp train --resume {run_dir}"
        )
        raise RunError(f"{run_dir}: the run is {state.status}, not completed; {hint}")
    data = read_data_record(run_dir)
    split = read_split(run_dir)
    model_path = _overlay(run_dir, MODEL_FILE)
    return CompletedRun(run_dir, config_text, data, split, model_path, summary)


# -- writing: one writer holding the lock --------------------------------------------------------


class RunWriter:
    """The one writer of a run directory while it is open; all its files go through here.

    `dir` is where the files are written: the run itself, or `.staged/` inside it when a
    complete run is being replaced or extended (committed by `finish`).
    """

    def __init__(self, run_dir: Path, lock: RunLock, staged: bool) -> None:
        self.run_dir = run_dir
        self.lock = lock
        self.staged = staged
        self.dir = run_dir / STAGED_DIR if staged else run_dir

    # -- opening --------------------------------------------------------------------------------

    @classmethod
    def create(cls, out: Path | None, name: str, overwrite: bool) -> RunWriter:
        """A writer for a new run: `out` (replaced only with `overwrite`), or a new directory
        `runs/<name>-<timestamp>`."""
        _kill_step()  # a malformed MLP_TEST_KILL_AT_STEP is refused before anything is made
        if out is None:
            run_dir = _new_default_run(name)
            return cls(run_dir, RunLock(run_dir), staged=False)
        has_run = check_out_dir(out, overwrite)
        out.mkdir(parents=True, exist_ok=True)
        lock = RunLock(out)
        try:
            has_run = check_out_dir(out, overwrite)  # again, under the lock
            _recover(out)
            if has_run:  # build the new run beside the old one, which stays until it is done
                staged = out / STAGED_DIR
                shutil.rmtree(staged, ignore_errors=True)
                staged.mkdir()
            return cls(out, lock, staged=has_run)
        except BaseException:
            lock.release()
            raise

    @classmethod
    def reopen(cls, run: Path) -> RunWriter:
        """A writer continuing `run`: in `.staged/` if a change to it was interrupted, else in
        place (see `begin_change` for extending a complete run)."""
        _kill_step()
        run_dir = locate(run)
        if not is_run(run_dir):
            raise RunError(f"--resume {run}: not a run directory (no {CONFIG_FILE})")
        lock = RunLock(run_dir)
        try:
            _recover(run_dir)
            staged = (run_dir / STAGED_DIR / CONFIG_FILE).is_file()
            return cls(run_dir, lock, staged=staged)
        except BaseException:
            lock.release()
            raise

    def begin_change(self, config_text: str) -> None:
        """Copy a complete run into `.staged/` to extend it there with the config
        `config_text`, leaving the run as it is until the change is finished."""
        assert not self.staged
        staged = self.run_dir / STAGED_DIR
        shutil.rmtree(staged, ignore_errors=True)
        staged.mkdir()
        for name in (DATA_FILE, SPLIT_FILE, METRICS_FILE, RESUME_FILE):
            data = (self.run_dir / name).read_bytes()
            _replace(staged / name, lambda file, data=data: file.write(data))
        self.staged, self.dir = True, staged
        self.write_config(config_text)  # last: from now on the change exists, resumable

    def close(self) -> None:
        """Release the lock."""
        self.lock.release()

    # -- the files -----------------------------------------------------------------------------

    def write_config(self, text: str) -> None:
        """config.yaml: the first file of a run."""
        _write_text(self.dir / CONFIG_FILE, text)

    def write_data(self, source: dict, split: dict[str, np.ndarray], facts: dict) -> None:
        """data.json and split.npz: what the run is trained on, and which rows are which part."""
        arrays = {name: np.asarray(rows, dtype=np.int64) for name, rows in split.items()}
        _replace(self.dir / SPLIT_FILE, lambda file: np.savez(file, **arrays))
        record = {
            "format": FORMAT_VERSION,
            "source": source,
            **facts,
            "parts": {name: len(rows) for name, rows in arrays.items()},
        }
        _write_json(self.dir / DATA_FILE, record)

    def has_data(self) -> bool:
        """True once data.json is written (a run killed before that records nothing yet)."""
        return (self.dir / DATA_FILE).is_file() and (self.dir / SPLIT_FILE).is_file()

    def data_record(self) -> dict:
        """data.json of the run being written."""
        return read_data_record(self.dir)

    def split(self) -> dict[str, np.ndarray]:
        """split.npz of the run being written."""
        return read_split(self.dir)

    @property
    def config_path(self) -> Path:
        """Where the run's config lives (for messages and the summary)."""
        return self.run_dir / CONFIG_FILE

    def config_text(self) -> str:
        """config.yaml of the run being written."""
        return read_config_text(self.dir)

    def metrics(self) -> list[dict]:
        """metrics.jsonl of the run being written."""
        return read_metrics(self.dir)

    def state(self) -> TrainingState | None:
        """resume.npz of the run being written, or None before the first save."""
        return read_state(self.dir)

    def rewrite_metrics(self, records: list[dict]) -> None:
        """Replace metrics.jsonl with exactly these records (on resuming: drop epochs that ran
        after the last saved state)."""
        _write_text(self.dir / METRICS_FILE, "".join(json.dumps(r) + "\n" for r in records))

    def append_metrics(self, record: dict) -> None:
        """Append one epoch's record; a short write is cut back off and raised as ENOSPC."""
        _append(self.dir / METRICS_FILE, (json.dumps(record) + "\n").encode("utf-8"))

    def sync_metrics(self) -> None:
        """fsync metrics.jsonl, so that it is never behind a resume.npz saved after it."""
        path = self.dir / METRICS_FILE
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def save_state(self, state: TrainingState) -> None:
        """resume.npz."""
        self.sync_metrics()
        _step()
        save_training_state(self.dir / RESUME_FILE, state)
        _step()

    def finish(self, checkpoint: Checkpoint, summary: dict) -> dict:
        """model.npz, then summary.json naming its SHA-256 (the run is complete), then the
        commit of a staged change. Returns the summary as written."""
        model = self.dir / MODEL_FILE
        _step()
        save_checkpoint(model, checkpoint)
        _step()
        summary = {
            **summary,
            "format": FORMAT_VERSION,
            "run": str(self.run_dir.absolute()),
            "model_sha256": file_sha256(model),
        }
        _write_json(self.dir / SUMMARY_FILE, summary)
        if self.staged:
            _commit(self.run_dir)
            self.staged, self.dir = False, self.run_dir
        return summary


def _append(path: Path, line: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)
    try:
        size = os.fstat(fd).st_size
        _step()
        try:
            write_all(fd, line, path)
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, size)  # no half record left for the next line to run into
            raise
        _step()
    finally:
        os.close(fd)


def _commit(run_dir: Path) -> None:
    """Move a committed staged change over the run's files, summary.json last."""
    staged = run_dir / STAGED_DIR
    fsync_directory(staged)
    for name in RUN_FILES:
        if (staged / name).exists():
            _step()
            os.replace(staged / name, run_dir / name)
            _step()
    fsync_directory(run_dir)
    shutil.rmtree(staged, ignore_errors=True)


def _recover(run_dir: Path) -> None:
    """Under the lock: finish a committed change, and clear what killed writers left."""
    staged = run_dir / STAGED_DIR
    if (staged / SUMMARY_FILE).is_file():
        _commit(run_dir)
    elif staged.is_dir() and not (staged / CONFIG_FILE).is_file():
        shutil.rmtree(staged, ignore_errors=True)  # emptied by a commit, or never started
    for folder in (run_dir, staged):
        if folder.is_dir():
            for entry in folder.iterdir():
                if _TEMPORARY.match(entry.name):
                    entry.unlink(missing_ok=True)


def _is_ours(name: str) -> bool:
    return name in RUN_FILES or name in (LOCK_FILE, STAGED_DIR) or bool(_TEMPORARY.match(name))


def check_out_dir(out: Path, overwrite: bool) -> bool:
    """Whether `out` holds a run to replace; refuse a run without `overwrite`, and a folder
    with other files in any case."""
    if out.exists() and not out.is_dir():
        raise RunError(f"--out {out}: exists and is not a directory")
    if not out.is_dir():
        return False
    entries = {entry.name for entry in out.iterdir()}
    foreign = sorted(name for name in entries if not _is_ours(name))
    if foreign:
        shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
        raise RunError(
            f"--out {out}: holds files that are not a run's ({shown}); choose another --out"
        )
    has_run = any(name in RUN_FILES or name == STAGED_DIR for name in entries)
    if has_run and not overwrite:
        raise RunError(f"--out {out}: already holds a run; pass --overwrite to replace it")
    return has_run


def _new_default_run(name: str, root: Path = DEFAULT_ROOT) -> Path:
    """Create `root/<name>-<timestamp>/`, never one that another process has just created.

    `os.mkdir` fails if the directory exists, so two runs started in the same second get
    different directories (`-2`, `-3`, ...) instead of writing into one.
    """
    root.mkdir(parents=True, exist_ok=True)
    stem = f"{name}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    for attempt in range(1, 1000):
        path = root / (stem if attempt == 1 else f"{stem}-{attempt}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path
    raise RunError(f"{root}: could not create a new run directory for {stem}")


def new_default_dir(name: str) -> Path:
    """A new, empty `runs/<name>-<timestamp>/`, for a folder of runs (`mlp cv`'s folds)."""
    return _new_default_run(name)


# -- moving a run between machines (a Dask worker shares no disk with the client) -----------


def export_run(run_dir: Path) -> dict[str, bytes]:
    """The run's files by name, as a reader sees them (a committed staged change included),
    or the uncommitted staged change when one is pending: that is what a resume continues."""
    staged = run_dir / STAGED_DIR
    pending = (staged / CONFIG_FILE).is_file() and not (staged / SUMMARY_FILE).is_file()
    files = {}
    for name in RUN_FILES:
        try:
            files[name] = (staged / name if pending else _overlay(run_dir, name)).read_bytes()
        except FileNotFoundError:
            continue
    return files


def import_run(run_dir: Path, files: dict[str, bytes]) -> None:
    """Write a run exported by `export_run` (on another machine) as the run in `run_dir`,
    replacing whatever run was there, under the lock: the old files go first (summary.json
    first), then the new ones, each atomically, in the order a training run writes them. A
    client killed halfway leaves what a training run killed at that point leaves: a run that
    resumes, never one that looks complete. summary.json's `run` names `run_dir`, as if the
    run had been trained here."""
    unknown = sorted(set(files) - set(RUN_FILES))
    if unknown or CONFIG_FILE not in files:
        raise RunError(f"{run_dir}: cannot import a run of files {sorted(files)}")
    run_dir.mkdir(parents=True, exist_ok=True)
    check_out_dir(run_dir, overwrite=True)  # refuses a folder with files that are not a run's
    lock = RunLock(run_dir)
    try:
        _recover(run_dir)
        shutil.rmtree(run_dir / STAGED_DIR, ignore_errors=True)
        for name in reversed(RUN_FILES):  # summary.json first: no longer complete
            (run_dir / name).unlink(missing_ok=True)
        fsync_directory(run_dir)
        for name in _WRITE_ORDER:
            if name not in files:
                continue
            if name == SUMMARY_FILE:
                summary = json.loads(files[name])
                _write_json(run_dir / name, {**summary, "run": str(run_dir.absolute())})
            else:
                _replace(run_dir / name, lambda file, data=files[name]: file.write(data))
    finally:
        lock.release()


# -- small shared readers ------------------------------------------------------------------------


def best_validation(records: list[dict]) -> tuple[float | None, float | None]:
    """The best validation accuracy and loss of a run's epochs (None without a val split)."""
    accuracy = [r["val_accuracy"] for r in records if r.get("val_accuracy") is not None]
    loss = [r["val_loss"] for r in records if r.get("val_loss") is not None]
    return (max(accuracy) if accuracy else None), (min(loss) if loss else None)
