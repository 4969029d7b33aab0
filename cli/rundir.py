"""The run directory: its files, its write protocol, its lock and its readers.

This module is the only code that knows the paths inside a run. A run directory holds

    config.yaml     the resolved config (every default filled in, paths absolute); written first
    data.json       what the run was trained on: the data's digest and the size of each part
    split.npz       the row indices of the train, val and test parts (plain int64 arrays)
    metrics.jsonl   one JSON object per epoch, appended
    resume.npz      weights, optimizer and trainer state: everything needed to continue
    model.npz       the final model (the core's checkpoint format)
    summary.json    final figures, the SHA-256 of every other file and a checksum of its own
                    content; written last: it marks completion
    .lock           the writer's lock (flock, released by the OS when the process dies); in a
                    sweep's or cv's folder, that command's lock
    .staged/        a change being built beside a complete run (extension, --overwrite)

The protocol, after git's and SQLite's (see shared/STYLE.md):

- One writer: a process writes a run only while it holds an exclusive `flock` on `.lock`. A
  second writer is refused at once, naming the holder's process id.
- Every file is replaced by writing a temporary file, checking every byte, fsync, rename,
  fsync of the directory (`mlp.checkpoint.atomic_write`). Appends to metrics.jsonl check every
  byte and cut a short write back off, so a full disk never leaves two records run together.
- Complete means summary.json is present and every file it vouches for has the SHA-256 it
  names. Readers take each file once and check it, so they see one commit or none: a commit
  that lands under a reader is read again, once. A saved resume.npz vouches for config.yaml.
  Anything short of that is resumable: `mlp train --resume` continues from resume.npz, or from
  the start when the run was killed before its first save (config.yaml is written first).
- A change to a complete run (more epochs, or --overwrite) is built in `.staged/`, itself a
  run directory, while the complete run stays exactly as it was. The change is committed when
  `.staged/summary.json` exists; the files are then moved over the run's, summary.json last.
  A reader that meets a committed `.staged/` reads each file from there while it still holds
  it; the next writer finishes the moves. An uncommitted `.staged/` (the change was killed or
  interrupted) is resumed by `mlp train --resume RUN` or replaced by another --overwrite.

Readers never trust a file: a file that cannot be read makes the run `damaged`, with a line
that names the file, and the other runs of a folder are still listed. Every file inside a run
is opened without following a link, and only when it is a regular file of a plausible size
(a FIFO would block, a device never end, a link lead outside the run); the run directory
itself may be a link.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import stat
import time
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
    load_checkpoint,
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
    """An exclusive `flock` on `FOLDER/.lock`; the OS releases it when the process dies.

    The same lock guards a run (one writer) and a sweep's or cv's folder (one sweep or cv at a
    time: `what` says which, for the message that names the holder). The lock file is opened
    without following a link and only if it is a regular file: a planted `.lock` link must never
    make us truncate its target.
    """

    def __init__(self, run_dir: Path, what: str = "is writing this run") -> None:
        self.path = run_dir / LOCK_FILE
        fd = _open_in_run(run_dir, (LOCK_FILE,), os.O_RDWR, create=True)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _lock_holder(fd)
            os.close(fd)
            raise RunError(
                f"{run_dir}: busy: {holder} {what}; wait for it to finish, or stop it first"
            ) from None
        # Write the pid over the old content and only then cut it to length: a reader never
        # finds the file empty once a holder has written it.
        pid = f"{os.getpid()}\n".encode()
        os.pwrite(fd, pid, 0)
        os.ftruncate(fd, len(pid))
        self.fd: int | None = fd

    def release(self) -> None:
        """Give the lock back (closing the file releases the flock)."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


_FOLDER_LOCKS: dict[tuple[int, int], RunLock] = {}  # (device, inode) -> held by this process


def lock_folder(folder: Path, command: str) -> RunLock:
    """Hold `folder/.lock` for the rest of this process: one `command` (sweep or cv) per folder.
    Another process's is refused at once, naming the holder's process id; this process may
    take it again (a second command run in-process, as the tests do)."""
    info = folder.stat()
    key = (info.st_dev, info.st_ino)
    held = _FOLDER_LOCKS.get(key)
    if held is None or not _still_there(held):
        held = _FOLDER_LOCKS[key] = RunLock(folder, f"is running an mlp {command} in this folder")
    return held


def _still_there(lock: RunLock) -> bool:
    """Whether the lock file held is still the folder's (not a folder since removed)."""
    try:
        on_disk = os.stat(lock.path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    held = os.fstat(lock.fd) if lock.fd is not None else None
    return held is not None and (held.st_dev, held.st_ino) == (on_disk.st_dev, on_disk.st_ino)


# How long a reader waits for a new holder to write its pid (between its flock and its write).
_HOLDER_PATIENCE_SECONDS = 1.0


def _lock_holder(fd: int) -> str:
    """'process 1234' from the lock file's first line, waiting briefly for a holder that has
    taken the lock but not yet written its pid."""
    deadline = time.monotonic() + _HOLDER_PATIENCE_SECONDS
    while True:
        with contextlib.suppress(OSError, ValueError, IndexError):  # empty, or not yet a pid
            return f"process {int(os.pread(fd, 32, 0).decode().splitlines()[0])}"
        if time.monotonic() > deadline:
            return "another mlp process"
        time.sleep(0.01)


def lock_holder(run_dir: Path) -> str | None:
    """Who holds the run's lock ('process 1234'), or None when no live process does."""
    try:
        fd = _open_in_run(run_dir, (LOCK_FILE,))
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _lock_holder(fd)
    finally:
        os.close(fd)  # also drops the shared lock just taken
    return None


# -- opening the files of a run: never through a link, never anything but a regular file -------

# The most bytes a reader takes from each file: far above what any run writes, far below what
# a planted device or a runaway file would cost.
_MAX_BYTES = {
    CONFIG_FILE: 16 << 20,
    DATA_FILE: 256 << 20,  # feature names and classes of very wide tables
    SPLIT_FILE: 4 << 30,
    METRICS_FILE: 1 << 30,  # about 200 bytes an epoch
    RESUME_FILE: 32 << 30,
    MODEL_FILE: 32 << 30,
    SUMMARY_FILE: 16 << 20,
    LOCK_FILE: 4096,
}
_KINDS = (
    (stat.S_ISLNK, "a symbolic link"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISCHR, "a device"),
    (stat.S_ISBLK, "a device"),
    (stat.S_ISSOCK, "a socket"),
)


def _kind(mode: int) -> str:
    """What a file that is not a regular file is, in words."""
    return next((words for test, words in _KINDS if test(mode)), "not a regular file")


def _not_ours(where: Path, mode: int) -> RunError:
    return RunError(f"{where}: damaged ({_kind(mode)}, not a file the run wrote)")


def _open_in_run(run_dir: Path, parts: tuple[str, ...], flags=os.O_RDONLY, create=False) -> int:
    """A descriptor for RUN/<parts>, opened without following a link inside the run and only
    when it is a regular file of a plausible size, before a byte is read: a FIFO would block
    the reader, a device never end, a link lead outside the run. RUN itself may be a link
    (runs/latest). FileNotFoundError when it is missing (and not `create`); RunError, naming
    the file, when it is anything but a run's file."""
    where = run_dir.joinpath(*parts)
    folder = os.open(run_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in parts[:-1]:  # .staged: a folder the run made, not a link to one
            _check_kind(folder, part, run_dir / part, stat.S_ISDIR)
            inner = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=folder)
            os.close(folder)
            folder = inner
        name = parts[-1]
        try:
            _check_kind(folder, name, where, stat.S_ISREG)
        except FileNotFoundError:
            if not create:
                raise FileNotFoundError(errno.ENOENT, "no such file", str(where)) from None
        mode = flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | (os.O_CREAT if create else 0)
        try:
            fd = os.open(name, mode, 0o666, dir_fd=folder)
        except OSError as err:  # swapped for a link or a directory since the check
            if err.errno in (errno.ELOOP, errno.EISDIR, errno.ENXIO):
                raise RunError(f"{where}: damaged (not a file the run wrote)") from None
            raise
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            os.close(fd)
            raise _not_ours(where, info.st_mode)
        return fd
    finally:
        os.close(folder)


def _check_kind(folder: int, name: str, where: Path, is_kind) -> None:
    """Refuse `name` in `folder` unless `is_kind(mode)` (without following a link) and, for a
    file, of a plausible size."""
    info = os.stat(name, dir_fd=folder, follow_symlinks=False)
    if not is_kind(info.st_mode):
        raise _not_ours(where, info.st_mode)
    limit = _MAX_BYTES.get(name)
    if limit is not None and info.st_size > limit:
        raise RunError(
            f"{where}: damaged ({info.st_size} bytes, more than a run's {name} can hold)"
        )


def _read_file(run_dir: Path, parts: tuple[str, ...]) -> bytes:
    """The bytes of RUN/<parts>, opened as `_open_in_run` does and read up to its limit."""
    limit = _MAX_BYTES.get(parts[-1], 1 << 30)
    with os.fdopen(_open_in_run(run_dir, parts), "rb") as file:
        size = os.fstat(file.fileno()).st_size
        data = file.read(size)  # one allocation of the size checked
        while len(data) <= limit and (more := file.read(1 << 20)):  # it grew meanwhile
            data += more
    if len(data) > limit:  # grew past its limit since it was checked
        raise RunError(f"{run_dir.joinpath(*parts)}: damaged (more than a run's file can hold)")
    return data


def _exists(run_dir: Path, parts: tuple[str, ...]) -> bool:
    """Whether RUN/<parts> exists (whatever it is: a link counts, unfollowed)."""
    return os.path.lexists(run_dir.joinpath(*parts))


def _staged_is_committed(run_dir: Path) -> bool:
    """Whether `.staged/` holds a committed change; RunError if `.staged` is not a folder."""
    try:
        info = os.lstat(run_dir / STAGED_DIR)
    except FileNotFoundError:
        return False
    if not stat.S_ISDIR(info.st_mode):
        raise RunError(
            f"{run_dir / STAGED_DIR}: damaged ({_kind(info.st_mode)}, not a folder the run made)"
        )
    return _exists(run_dir, (STAGED_DIR, SUMMARY_FILE))


def _staged_is_pending(run_dir: Path) -> bool:
    """Whether `.staged/` holds an uncommitted change (its config, no summary yet)."""
    try:
        info = os.lstat(run_dir / STAGED_DIR)
    except FileNotFoundError:
        return False
    if not stat.S_ISDIR(info.st_mode):
        return False
    return _exists(run_dir, (STAGED_DIR, CONFIG_FILE)) and not _exists(
        run_dir, (STAGED_DIR, SUMMARY_FILE)
    )


# -- reading the files of one directory (a run, or its staged change) --------------------------


def _location(run_dir: Path, name: str) -> tuple[str, ...]:
    """Where `name` is to be read: from a committed staged change while it still holds it."""
    if _staged_is_committed(run_dir) and _exists(run_dir, (STAGED_DIR, name)):
        return (STAGED_DIR, name)
    return (name,)


def _read(run_dir: Path, name: str) -> bytes:
    """The bytes of the run's current `name`, retrying once if a commit moved it meanwhile."""
    try:
        return _read_file(run_dir, _location(run_dir, name))
    except FileNotFoundError:
        return _read_file(run_dir, (name,))


def _damaged(run_dir: Path, name: str, why: str) -> RunError:
    return RunError(f"{run_dir / name}: damaged ({why})")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _text(run_dir: Path, name: str, data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise _damaged(run_dir, name, str(err)) from None


def _json_object(run_dir: Path, name: str, data: bytes) -> dict:
    try:
        value = json.loads(_text(run_dir, name, data))
    except (ValueError, RecursionError) as err:
        raise _damaged(run_dir, name, str(err).splitlines()[0]) from None
    if not isinstance(value, dict):
        raise _damaged(run_dir, name, "not a JSON object")
    return value


def read_json(run_dir: Path, name: str) -> dict:
    """A JSON object file of the run; RunError naming the file if it is not one."""
    try:
        data = _read(run_dir, name)
    except FileNotFoundError:
        raise
    except OSError as err:
        raise _damaged(run_dir, name, str(err)) from None
    return _json_object(run_dir, name, data)


def _metrics(run_dir: Path, data: bytes) -> list[dict]:
    lines = _text(run_dir, METRICS_FILE, data).split("\n")
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


def read_metrics(run_dir: Path) -> list[dict]:
    """The epochs of metrics.jsonl. A last line cut short by a crash is left out; a bad line
    anywhere else means the file is damaged."""
    try:
        data = _read(run_dir, METRICS_FILE)
    except FileNotFoundError:
        return []
    except OSError as err:
        raise _damaged(run_dir, METRICS_FILE, str(err)) from None
    return _metrics(run_dir, data)


def read_config_text(run_dir: Path) -> str:
    """config.yaml's text."""
    try:
        data = _read(run_dir, CONFIG_FILE)
    except FileNotFoundError:
        raise RunError(f"{run_dir}: not a run directory (no {CONFIG_FILE})") from None
    except OSError as err:
        raise _damaged(run_dir, CONFIG_FILE, str(err)) from None
    return _text(run_dir, CONFIG_FILE, data)


def read_state(run_dir: Path) -> TrainingState | None:
    """resume.npz, or None when the run has not saved one yet."""
    try:
        data = _read(run_dir, RESUME_FILE)
    except FileNotFoundError:
        return None
    except OSError as err:
        raise _damaged(run_dir, RESUME_FILE, str(err)) from None
    try:
        return load_training_state(run_dir / RESUME_FILE, data)
    except CheckpointError as err:
        raise RunError(f"{err}") from None


def check_config_vouched(run_dir: Path, text: str, state: TrainingState | None) -> None:
    """An interrupted run's config.yaml must be one its saved state vouches for: a config cut
    short or edited would otherwise resume silently with defaults in place of its values."""
    recorded = None if state is None else state.info.get("config_sha256")
    if recorded is None:  # no state yet, or one saved before states vouched for the config
        return
    actual = _sha256(text.encode("utf-8"))
    if not isinstance(recorded, list) or actual not in recorded:
        raise _damaged(
            run_dir,
            CONFIG_FILE,
            f"its SHA-256 {actual[:16]}... is not the one {RESUME_FILE} was saved with; "
            "the file was changed or cut short",
        )


def _split(run_dir: Path, data: bytes) -> dict[str, np.ndarray]:
    try:
        with Archive(run_dir / SPLIT_FILE, data) as archive:  # headers checked before reading
            members = archive.members
            if "train" not in members or set(members) - set(SPLITS):
                raise NpzError(f"holds {sorted(members)}, not the parts {', '.join(SPLITS)}")
            for name, member in members.items():
                if member.ndim != 1 or member.dtype.kind not in "iu":
                    raise NpzError(f"{name} is not a list of row numbers")
            parts = {name: archive.read(name).astype(np.int64) for name in members}
    except (OSError, NpzError, zipfile.BadZipFile) as err:
        raise _damaged(run_dir, SPLIT_FILE, str(err).splitlines()[0]) from None
    return {name: rows for name, rows in parts.items() if len(rows) or name == "train"}


def read_split(run_dir: Path) -> dict[str, np.ndarray]:
    """The recorded row indices of each part ("train", and "val"/"test" where the run has them)."""
    try:
        data = _read(run_dir, SPLIT_FILE)
    except FileNotFoundError:
        raise _damaged(run_dir, SPLIT_FILE, "missing") from None
    except OSError as err:
        raise _damaged(run_dir, SPLIT_FILE, str(err)) from None
    return _split(run_dir, data)


def _data_record(run_dir: Path, record: dict) -> dict:
    if record.get("format") != FORMAT_VERSION or not isinstance(record.get("source"), dict):
        raise _damaged(run_dir, DATA_FILE, f"not a format {FORMAT_VERSION} data record")
    return record


def read_data_record(run_dir: Path) -> dict:
    """data.json: what the run was trained on. Runs of format 1 have none and are refused."""
    try:
        record = read_json(run_dir, DATA_FILE)
    except FileNotFoundError:
        raise _format_1(run_dir) from None
    return _data_record(run_dir, record)


def _format_1(run_dir: Path) -> RunError:
    return RunError(
        f"{run_dir}: a run of format version 1, which does not record its data, so its "
        f"split cannot be checked; train it again with this mlp (format {FORMAT_VERSION})"
    )


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
        old, new = str(recorded.get("sha256", "")), str(now["sha256"])
        shown = _differing_prefix(old, new)
        details.append(f"sha256 {old[:shown]}... -> {new[:shown]}...")
    return f"{name}: differs from the data the run recorded ({', '.join(details)})"


def _differing_prefix(a: str, b: str, at_least: int = 12) -> int:
    """How many leading characters show two digests apart: 12, or up to the first that differs."""
    common = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    return max(at_least, common + 1)


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
    """True when `path` looks like a run directory (it has, or had, a config), whatever its
    files are: a link in place of config.yaml makes a damaged run, not a missing one."""
    return _exists(path, (CONFIG_FILE,)) or _exists(path, (STAGED_DIR, SUMMARY_FILE))


# -- the files a complete run vouches for -----------------------------------------------------

# Every file of a complete run is named in its summary.json with its SHA-256 (the summary
# itself carries a checksum of its own content): readers check each file they use against it.
VOUCHED = (CONFIG_FILE, DATA_FILE, SPLIT_FILE, METRICS_FILE, RESUME_FILE, MODEL_FILE)


def _summary_checksum(summary: dict) -> str:
    """The SHA-256 of the summary's content, the checksum itself left out (JSON with sorted
    keys: floats print back exactly as they were read)."""
    body = {key: value for key, value in summary.items() if key != "checksum"}
    return _sha256(json.dumps(body, sort_keys=True).encode("utf-8"))


def seal_summary(summary: dict) -> dict:
    """The summary with its checksum (after any change to it)."""
    return {**summary, "checksum": _summary_checksum(summary)}


class _Moved(Exception):
    """A vouched file that does not match the summary: damaged, or a commit landed meanwhile."""

    def __init__(self, name: str, why: str) -> None:
        super().__init__(why)
        self.name, self.why = name, why


def _vouched_files(run_dir: Path, keep: tuple[str, ...]) -> tuple[dict | None, dict[str, bytes]]:
    """summary.json (None when the run is not complete) and the bytes of the files in `keep`,
    every file the summary vouches for checked against its SHA-256; `_Moved` on a mismatch."""
    try:
        summary = read_json(run_dir, SUMMARY_FILE)
    except FileNotFoundError:
        return None, {}
    if "format" not in summary and "checksum" not in summary:
        return summary, {}  # format 1: no digest to check; eval refuses it by its format
    sealed = "checksum" in summary or "files" in summary  # older summaries are not sealed
    if sealed and summary.get("checksum") != _summary_checksum(summary):
        raise _damaged(run_dir, SUMMARY_FILE, "its content does not match its checksum")
    vouched = summary.get("files")
    if vouched is None:  # written before summaries vouched for every file: the model only
        vouched = {MODEL_FILE: summary.get("model_sha256")}
    if not isinstance(vouched, dict) or set(vouched) - set(VOUCHED):
        raise _damaged(run_dir, SUMMARY_FILE, "its list of files is not a run's")
    kept = {}
    for name, expected in vouched.items():
        try:
            data = _read(run_dir, name)
        except FileNotFoundError:
            raise _Moved(name, f"missing, though {SUMMARY_FILE} vouches for it") from None
        except OSError as err:
            raise _damaged(run_dir, name, str(err)) from None
        if _sha256(data) != expected:
            raise _Moved(name, f"its SHA-256 is not the one {SUMMARY_FILE} vouches for")
        if name in keep:
            kept[name] = data
    return summary, kept


def _once_more_if_moved(run_dir: Path, read):
    """read(), again once if a commit landed under it; a file that still does not match its
    summary is damaged, and named."""
    try:
        return read()
    except _Moved:
        try:
            return read()
        except _Moved as moved:
            raise _damaged(run_dir, moved.name, moved.why) from None


def completed_files(run_dir: Path, names: tuple[str, ...]) -> tuple[dict | None, dict[str, bytes]]:
    """summary.json and the bytes of the files `names` it vouches for, all of one commit
    (None and {} when the run is not complete); RunError naming a file that is damaged."""
    return _once_more_if_moved(run_dir, lambda: _vouched_files(run_dir, names))


def completed_summary(run_dir: Path) -> dict | None:
    """summary.json when the run is complete (every file it vouches for is the one it names),
    None when the run is not complete; RunError naming the file that is damaged."""
    return _once_more_if_moved(run_dir, lambda: _vouched_files(run_dir, ())[0])


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
        if _exists(run_dir, _location(run_dir, DATA_FILE)):  # format 1 runs have none
            read_data_record(run_dir)
            read_split(run_dir)
        holder = lock_holder(run_dir)
        if _staged_is_pending(run_dir):
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
            check_config_vouched(run_dir, state.config_text, saved)
            failed = saved is not None and saved.info.get("status") == "failed"
            state.status = "failed" if failed else "interrupted"
    except RunError as err:
        state.status, state.problem = "damaged", str(err)
    return state


def checks_out(run_dir: Path) -> bool:
    """Whether `run_dir` holds a complete run whose every vouched file checks out: a sweep
    point or cv fold that a rerun may keep. False for anything else, a damaged run included
    (a completed point whose metrics.jsonl was cut short or removed is redone)."""
    return is_run(run_dir) and inspect_run(run_dir).status == "completed"


# -- a completed run, for eval and predict ------------------------------------------------------


@dataclass(frozen=True)
class CompletedRun:
    """The files `mlp eval` and `mlp predict` need, each read once, from one commit, and
    checked against the SHA-256 its summary.json vouches for."""

    path: Path
    config_text: str
    data: dict  # data.json
    split: dict[str, np.ndarray]
    model_path: Path  # where the model was read from (for messages)
    summary: dict
    checkpoint: Checkpoint  # the model, loaded from the bytes that were checked


def locate(run: Path) -> Path:
    """The run directory for RUN given as the directory or its model.npz."""
    if run.is_file() and run.name == MODEL_FILE:
        return run.parent
    if not run.is_dir():
        raise RunError(f"{run}: not a run directory")
    return run


_READ_BY_EVAL = (CONFIG_FILE, DATA_FILE, SPLIT_FILE, MODEL_FILE)


def open_completed(run: Path) -> CompletedRun:
    """A complete run, every file checked; RunError with one line otherwise.

    Every file is read once and checked against summary.json, so a run overwritten meanwhile
    gives all its files from one commit: a commit that lands under the reader is read again,
    once; a file that still does not match is damaged, and named.
    """
    run_dir = locate(run)
    summary, files = completed_files(run_dir, _READ_BY_EVAL)
    if summary is None:
        read_config_text(run_dir)  # not a run at all: say so
        state = inspect_run(run_dir)
        hint = (
            "it diverged: train again with a smaller lr"
            if state.status == "failed"
            else f"finish it with: mlp train --resume {run_dir}"
        )
        raise RunError(f"{run_dir}: the run is {state.status}, not completed; {hint}")
    for name in _READ_BY_EVAL:  # what a summary of an older format does not vouch for
        if name not in files:
            try:
                files[name] = _read(run_dir, name)
            except FileNotFoundError:
                if name == DATA_FILE:
                    raise _format_1(run_dir) from None
                raise _damaged(run_dir, name, "missing") from None
    config_text = _text(run_dir, CONFIG_FILE, files[CONFIG_FILE])
    data = _data_record(run_dir, _json_object(run_dir, DATA_FILE, files[DATA_FILE]))
    split = _split(run_dir, files[SPLIT_FILE])
    model_path = run_dir / MODEL_FILE
    checkpoint = load_checkpoint(model_path, files[MODEL_FILE])
    return CompletedRun(run_dir, config_text, data, split, model_path, summary, checkpoint)


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
                _remove_staged(out)
                (out / STAGED_DIR).mkdir()
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
            return cls(run_dir, lock, staged=_staged_is_pending(run_dir))
        except BaseException:
            lock.release()
            raise

    def begin_change(self, config_text: str) -> None:
        """Copy a complete run into `.staged/` to extend it there with the config
        `config_text`, leaving the run as it is until the change is finished."""
        assert not self.staged
        staged = self.run_dir / STAGED_DIR
        _remove_staged(self.run_dir)
        staged.mkdir()
        for name in (DATA_FILE, SPLIT_FILE, METRICS_FILE, RESUME_FILE):
            data = _read_file(self.run_dir, (name,))
            _replace(staged / name, lambda file, data=data: file.write(data))
        self.staged, self.dir = True, staged
        self.write_config(config_text)  # last: from now on the change exists, resumable

    def close(self) -> None:
        """Release the lock."""
        self.lock.release()

    # -- the files -----------------------------------------------------------------------------

    def write_config(self, text: str) -> None:
        """config.yaml: the first file of a run.

        A saved state vouches for the config (its SHA-256). Replacing the config of a run that
        has one (more epochs on resuming) first saves the state vouching for both the old
        config and the new, so that a kill between the two writes leaves a state that vouches
        for whichever config is on disk."""
        digest = _sha256(text.encode("utf-8"))
        state = read_state(self.dir)  # None in a new run
        recorded = None if state is None else state.info.get("config_sha256")
        if state is not None and isinstance(recorded, list) and digest not in recorded:
            state.info["config_sha256"] = [*recorded, digest]
            self._save_state_file(state)
        _write_text(self.dir / CONFIG_FILE, text)
        self._config_sha256 = digest

    def _parts(self, name: str) -> tuple[str, ...]:
        """Where `name` of the run being written is, inside the run."""
        return (STAGED_DIR, name) if self.staged else (name,)

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
        return _exists(self.run_dir, self._parts(DATA_FILE)) and _exists(
            self.run_dir, self._parts(SPLIT_FILE)
        )

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
        """config.yaml of the run being written, checked against its saved state."""
        text = read_config_text(self.dir)
        check_config_vouched(self.dir, text, read_state(self.dir))
        return text

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
        line = (json.dumps(record) + "\n").encode("utf-8")
        _append(self.run_dir, self._parts(METRICS_FILE), line)

    def sync_metrics(self) -> None:
        """fsync metrics.jsonl, so that it is never behind a resume.npz saved after it."""
        try:
            fd = _open_in_run(self.run_dir, self._parts(METRICS_FILE))
        except FileNotFoundError:
            return
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def save_state(self, state: TrainingState) -> None:
        """resume.npz, vouching for the config it was saved with."""
        if getattr(self, "_config_sha256", None) is None:
            self._config_sha256 = _sha256(self.config_text().encode("utf-8"))
        state.info["config_sha256"] = [self._config_sha256]
        self._save_state_file(state)

    def _save_state_file(self, state: TrainingState) -> None:
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
        vouched = {
            name: _sha256(_read_file(self.run_dir, self._parts(name)))
            for name in VOUCHED
            if _exists(self.run_dir, self._parts(name))
        }
        summary = {
            **summary,
            "format": FORMAT_VERSION,
            "run": str(self.run_dir.absolute()),
            "model_sha256": vouched[MODEL_FILE],
            "files": vouched,
        }
        summary = seal_summary(summary)
        _write_json(self.dir / SUMMARY_FILE, summary)
        if self.staged:
            _commit(self.run_dir)
            self.staged, self.dir = False, self.run_dir
        return summary


def _append(run_dir: Path, parts: tuple[str, ...], line: bytes) -> None:
    path = run_dir.joinpath(*parts)
    fd = _open_in_run(run_dir, parts, os.O_WRONLY | os.O_APPEND, create=True)
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
        if os.path.lexists(staged / name):  # a link is moved as it is, never followed
            _step()
            os.replace(staged / name, run_dir / name)
            _step()
    fsync_directory(run_dir)
    shutil.rmtree(staged, ignore_errors=True)


def _recover(run_dir: Path) -> None:
    """Under the lock: finish a committed change, and clear what killed writers left."""
    staged = run_dir / STAGED_DIR
    if os.path.lexists(staged) and not stat.S_ISDIR(os.lstat(staged).st_mode):
        staged.unlink()  # a link or a file planted there: never ours, never followed
    if _staged_is_committed(run_dir):
        _commit(run_dir)
    elif staged.is_dir() and not _exists(run_dir, (STAGED_DIR, CONFIG_FILE)):
        shutil.rmtree(staged, ignore_errors=True)  # emptied by a commit, or never started
    for folder in (run_dir, staged):
        if folder.is_dir():
            for entry in folder.iterdir():
                if _TEMPORARY.match(entry.name):
                    entry.unlink(missing_ok=True)


def _remove_staged(run_dir: Path) -> None:
    """Remove `.staged`, whatever it is: a link or a file is unlinked, never followed (and
    rmtree never follows the links inside a folder)."""
    staged = run_dir / STAGED_DIR
    try:
        info = os.lstat(staged)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(info.st_mode):
        shutil.rmtree(staged)
    else:
        staged.unlink()


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


# -- moving a run between machines (a Dask worker shares no disk with the client) -----------


def export_run(run_dir: Path) -> dict[str, bytes]:
    """The run's files by name, as a reader sees them (a committed staged change included),
    or the uncommitted staged change when one is pending: that is what a resume continues."""
    pending = _staged_is_pending(run_dir)
    files = {}
    for name in RUN_FILES:
        try:
            where = (STAGED_DIR, name)
            files[name] = _read_file(run_dir, where) if pending else _read(run_dir, name)
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
        _remove_staged(run_dir)
        for name in reversed(RUN_FILES):  # summary.json first: no longer complete
            (run_dir / name).unlink(missing_ok=True)
        fsync_directory(run_dir)
        for name in _WRITE_ORDER:
            if name not in files:
                continue
            if name == SUMMARY_FILE:
                summary = json.loads(files[name])
                summary = seal_summary({**summary, "run": str(run_dir.absolute())})
                _write_json(run_dir / name, summary)
            else:
                _replace(run_dir / name, lambda file, data=files[name]: file.write(data))
    finally:
        lock.release()


# -- small shared readers ------------------------------------------------------------------------


def best_validation(
    records: list[dict], score: str = "accuracy"
) -> tuple[float | None, float | None]:
    """The best validation score (accuracy, or a regression's r2) and loss of a run's epochs
    (None without a val split)."""
    key = f"val_{score}"
    best = [r[key] for r in records if r.get(key) is not None]
    loss = [r["val_loss"] for r in records if r.get("val_loss") is not None]
    return (max(best) if best else None), (min(loss) if loss else None)


def score_of(summary: dict | None, records: list[dict]) -> str:
    """What a run is scored by: its summary's "score", else what its epochs record ("r2" for
    a regression), else accuracy."""
    named = (summary or {}).get("score")
    if isinstance(named, str) and named.isidentifier():
        return named
    return "r2" if records and "train_r2" in records[0] else "accuracy"
