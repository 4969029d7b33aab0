"""Saving and loading trained models as `.npz` files, atomically and without pickle.

The format is a contract that other tools read and write: arrays `W1..WL` of shape
(fan_in, fan_out) and `b1..bL` of shape (fan_out,), plus metadata arrays:

    format_version  int       this file's format (FORMAT_VERSION)
    layer_sizes     int64 (L+1,)   [d, h1, ..., K]
    activation      str       hidden-layer activation, e.g. "sigmoid"
    dtype           str       "float64" or "float32"
    classes         (K,)      the original class labels, index k <-> output unit k (for a
                              regression: the T target columns' names, output t <-> target t)
    head            str       since format 3: the output head, "softmax" or "identity"
                              (mlp/heads.py); a file without it is a softmax classifier
    target_mean, target_scale (T,)   optional, identity head: the model predicts the
                              standardised target (y - target_mean) / target_scale
    mean, scale     (d,)      optional: inputs are standardised as (x - mean) / scale
    feature_names   (d,) str  optional: the input columns, in order
    prep.*          1-D arrays   optional: how raw table columns become the d inputs (one-hot
                              categories, imputation, scaling) and how a table is read (its id
                              column, delimiter and header: `prep.reading`, since format 2),
                              stored by the caller as plain arrays and handed back as they were
                              (`Checkpoint.preprocessing`)

Loading never unpickles: no code inside a file is ever run. Files are read by `mlp.npz`, which
checks every member's header against the zip directory and the file's size before reading any
data; the loaders then check the declared shapes against the metadata before reading them.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import re
import secrets
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, cast

import numpy as np

from mlp.functions import ACTIVATIONS
from mlp.heads import DEFAULT_HEAD, HEADS
from mlp.network import DTYPES, MLP
from mlp.npz import Archive, Member, NpzError

# 1: before a table run's file recorded how its tables are read; 2: before the head was named
FORMAT_VERSION = 3
_PARAM_NAME = re.compile(r"^[Wb](\d+)$")
PREP_PREFIX = "prep."
_METADATA = (
    "format_version",
    "layer_sizes",
    "activation",
    "dtype",
    "classes",
    "mean",
    "scale",
    "feature_names",
    "head",
    "target_mean",
    "target_scale",
)


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or does not describe a valid model; one clear line."""


@dataclass(frozen=True)
class Checkpoint:
    """A model and what is needed to apply it to raw inputs."""

    model: MLP
    classes: np.ndarray
    mean: np.ndarray | None = None
    scale: np.ndarray | None = None
    feature_names: tuple[str, ...] | None = None
    # Plain 1-D arrays named "prep.<key>" that map raw columns to the inputs; the core only
    # stores and returns them (their meaning belongs to the data layer).
    preprocessing: dict[str, np.ndarray] | None = None
    # A regression's target standardisation: the model predicts (y - target_mean) / target_scale.
    target_mean: np.ndarray | None = None
    target_scale: np.ndarray | None = None

    def to_standard_units(self, values: np.ndarray) -> np.ndarray:
        """Targets in their own units as the model was trained on them (standardised)."""
        values = np.asarray(values, dtype=np.float64)
        if self.target_mean is None or self.target_scale is None:
            return values
        return (values - self.target_mean) / self.target_scale

    def to_target_units(self, outputs: np.ndarray) -> np.ndarray:
        """A regression's outputs in the target's own units (as they are without scaling)."""
        if self.target_mean is None or self.target_scale is None:
            return np.asarray(outputs, dtype=np.float64)
        return outputs * self.target_scale + self.target_mean


class _CheckedFile(io.RawIOBase):
    """A binary file whose every write is checked: a short write means the disk is full."""

    def __init__(self, fd: int, path: Path) -> None:
        super().__init__()
        self._fd, self._path = fd, path

    def fileno(self) -> int:
        return self._fd

    def close(self) -> None:
        if not self.closed:
            super().close()
            os.close(self._fd)

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return os.lseek(self._fd, offset, whence)

    def tell(self) -> int:
        return os.lseek(self._fd, 0, os.SEEK_CUR)

    def write(self, data) -> int:
        write_all(self._fd, data, self._path)
        return memoryview(data).nbytes


def write_all(fd: int, data: bytes | bytearray | memoryview, path: str | os.PathLike) -> None:
    """Write every byte of `data` to `fd`, or raise an OSError that names `path`.

    os.write may write fewer bytes than asked; the rest is retried, and a write that makes no
    progress means the disk is full (ENOSPC), which is what is raised, naming `path`.
    """
    view = memoryview(data).cast("B")
    while view:
        try:
            written = os.write(fd, view)
        except OSError as err:
            raise OSError(err.errno, err.strerror or str(err), str(path)) from None
        if written <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        view = view[written:]


def _create_temporary(path: Path) -> tuple[int, Path]:
    """A new file `.<name>.<random>.tmp` beside `path`, mode 0666 less the user's umask."""
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), tmp
        except FileExistsError:
            continue
        except OSError as err:  # no folder, no permission: name the file the user asked for
            raise OSError(err.errno, err.strerror, str(path)) from None
    raise FileExistsError(errno.EEXIST, "no free temporary file name", str(path))


def fsync_directory(directory: Path) -> None:
    """Make a rename in `directory` durable (SQLite's atomic commit does the same)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], object]) -> None:
    """Call `write(file)` on a temporary file beside `path`, then move it over `path`.

    The sequence is write (every byte checked), fsync, rename, fsync the directory: a reader
    sees the old file or the new one, never half of one, even after a power cut. On any
    failure the temporary file is removed, `path` is untouched, and an OSError names `path`
    (a full disk is one line: 'runs/x/model.npz: No space left on device').
    """
    path = Path(path)
    fd, tmp = _create_temporary(path)
    try:
        with _CheckedFile(fd, path) as file:
            write(cast(BinaryIO, file))  # a raw binary file: write, seek and tell are enough
            os.fsync(fd)
        os.replace(tmp, path)
        fsync_directory(path.parent)
    except BaseException as err:  # KeyboardInterrupt too: never leave the temporary file behind
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        # Say which file failed: the one asked for, never the temporary file (a failed rename
        # names the temporary file first).
        if isinstance(err, OSError) and err.filename != str(path):
            raise OSError(err.errno, err.strerror or str(err), str(path)) from err
        raise


def checkpoint_arrays(checkpoint: Checkpoint) -> dict[str, np.ndarray]:
    """The named arrays of the file format, ready for `np.savez`."""
    model = checkpoint.model
    arrays = dict(model.named_arrays())
    arrays["format_version"] = np.asarray(FORMAT_VERSION)
    arrays["layer_sizes"] = np.asarray(model.layer_sizes, dtype=np.int64)
    arrays["activation"] = np.asarray(model.activation.name)
    arrays["dtype"] = np.asarray(model.dtype.name)
    arrays["head"] = np.asarray(model.head.name)
    arrays["classes"] = np.asarray(checkpoint.classes)
    if checkpoint.target_mean is not None and checkpoint.target_scale is not None:
        arrays["target_mean"] = np.asarray(checkpoint.target_mean, dtype=np.float64)
        arrays["target_scale"] = np.asarray(checkpoint.target_scale, dtype=np.float64)
    if checkpoint.mean is not None and checkpoint.scale is not None:
        arrays["mean"] = np.asarray(checkpoint.mean, dtype=np.float64)
        arrays["scale"] = np.asarray(checkpoint.scale, dtype=np.float64)
    if checkpoint.feature_names is not None:
        arrays["feature_names"] = np.asarray(checkpoint.feature_names, dtype=str)
    for name, value in (checkpoint.preprocessing or {}).items():
        if not name.startswith(PREP_PREFIX):
            raise CheckpointError(f"preprocessing array {name!r} must be named {PREP_PREFIX}*")
        arrays[name] = np.asarray(value)
    return arrays


def save_checkpoint(path: str | os.PathLike, checkpoint: Checkpoint) -> None:
    """Write `checkpoint` to `path` atomically (the previous file survives any failure)."""
    arrays = checkpoint_arrays(checkpoint)
    if (
        arrays["classes"].dtype == object
        or len(arrays["classes"]) != checkpoint.model.layer_sizes[-1]
    ):
        raise CheckpointError(
            f"classes must be {checkpoint.model.layer_sizes[-1]} numbers or strings, "
            f"got {arrays['classes']!r}"
        )
    atomic_write(path, lambda file: np.savez(file, **arrays))


@contextlib.contextmanager
def _archive(path: Path, data: bytes | None = None) -> Iterator[Archive]:
    """The checkpoint's archive (read from `data`, its bytes, when given), headers checked;
    every problem reading it a CheckpointError."""
    head = _head_of_file(path) if data is None else data[:6]
    if head == b"\x93NUMPY":
        raise CheckpointError(f"{path}: holds a single array, not an .npz archive")
    try:
        with Archive(path, data) as archive:
            yield archive
    except NpzError as err:
        raise CheckpointError(str(err)) from None
    except (OSError, EOFError, zipfile.BadZipFile) as err:
        raise CheckpointError(f"{path}: not a readable .npz checkpoint ({err})") from None


def _head_of_file(path: Path) -> bytes:
    """The first bytes of a regular file; a missing path or any other kind of file (a FIFO
    would block the read, a device never end) is refused by name, before it is opened."""
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint file")
    if not path.is_file():
        raise CheckpointError(f"{path}: not a regular file, so not a checkpoint")
    with open(path, "rb") as file:
        return file.read(6)


def _parameter_members(path: Path, members: dict[str, Member]) -> int:
    """The number of layers, once the W_l and b_l headers are checked to chain into a network."""
    numbers = sorted({int(m.group(1)) for name in members if (m := _PARAM_NAME.match(name))})
    n_layers = len(numbers)
    if numbers != list(range(1, n_layers + 1)) or n_layers == 0:
        raise CheckpointError(f"{path}: expected arrays W1..WL and b1..bL, found {sorted(members)}")
    for i in range(1, n_layers + 1):
        for name in (f"W{i}", f"b{i}"):
            if name not in members:
                raise CheckpointError(f"{path}: {name} is missing")
    for i in range(1, n_layers + 1):
        W, b = members[f"W{i}"], members[f"b{i}"]
        if W.ndim != 2 or b.ndim != 1 or b.shape[0] != W.shape[1] or 0 in W.shape:
            raise CheckpointError(f"{path}: W{i} {W.shape} and b{i} {b.shape} do not fit together")
        if i > 1 and W.shape[0] != members[f"W{i - 1}"].shape[1]:
            raise CheckpointError(
                f"{path}: W{i} has {W.shape[0]} inputs but layer {i - 1} has "
                f"{members[f'W{i - 1}'].shape[1]} units"
            )
        for name, member in ((f"W{i}", W), (f"b{i}", b)):
            if member.dtype.name not in DTYPES:
                raise CheckpointError(f"{path}: {name} has dtype {member.dtype}, expected float")
    return n_layers


def _read_parameters(archive: Archive, n_layers: int):
    """W1..WL and b1..bL, read once their headers have passed `_parameter_members`."""
    weights = [archive.read(f"W{i}") for i in range(1, n_layers + 1)]
    biases = [archive.read(f"b{i}") for i in range(1, n_layers + 1)]
    for i, (W, b) in enumerate(zip(weights, biases), start=1):
        for name, array in ((f"W{i}", W), (f"b{i}", b)):
            if not np.isfinite(array).all():
                raise CheckpointError(f"{archive.path}: {name} contains NaN or infinity")
    return weights, biases


def load_weights(
    path: str | os.PathLike, activation: str = "sigmoid", head: str = DEFAULT_HEAD
) -> MLP:
    """Read only W1..WL and b1..bL (e.g. weights written by another tool) into a network
    with the given hidden activation and output head."""
    path = Path(path)
    with _archive(path) as archive:
        n_layers = _parameter_members(path, archive.members)
        weights, biases = _read_parameters(archive, n_layers)
    return MLP.from_arrays(weights, biases, activation=activation, head=head)


def _scalar_string(archive: Archive, name: str) -> str:
    member = archive.members[name]
    if member.ndim != 0 or member.dtype.kind != "U":
        raise CheckpointError(f"{archive.path}: {name} must be a string")
    return str(archive.read(name))


def _check_metadata_shapes(path: Path, members: dict[str, Member], sizes: list[int]) -> None:
    """classes, mean, scale and feature_names as long as the layer sizes say, before reading."""
    classes = members["classes"]
    if classes.shape != (sizes[-1],) or classes.dtype.kind not in "iufU":
        raise CheckpointError(
            f"{path}: classes must list {sizes[-1]} labels (one per output unit), "
            f"got shape {classes.shape} of {classes.dtype}"
        )
    if ("mean" in members) != ("scale" in members):
        raise CheckpointError(f"{path}: mean and scale must be stored together")
    for name in ("mean", "scale"):
        stat = members.get(name)
        if stat is not None and (stat.shape != (sizes[0],) or stat.dtype.kind != "f"):
            raise CheckpointError(
                f"{path}: {name} must be {sizes[0]} finite floats, got shape {stat.shape}"
            )
    names = members.get("feature_names")
    if names is not None and (names.shape != (sizes[0],) or names.dtype.kind != "U"):
        raise CheckpointError(f"{path}: feature_names must be {sizes[0]} strings")
    if ("target_mean" in members) != ("target_scale" in members):
        raise CheckpointError(f"{path}: target_mean and target_scale must be stored together")
    for name in ("target_mean", "target_scale"):
        stat = members.get(name)
        if stat is not None and (stat.shape != (sizes[-1],) or stat.dtype.kind != "f"):
            raise CheckpointError(
                f"{path}: {name} must be {sizes[-1]} finite floats, got shape {stat.shape}"
            )


def load_checkpoint(path: str | os.PathLike, data: bytes | None = None) -> Checkpoint:
    """Read a checkpoint written by `save_checkpoint`, checking every array against the metadata.

    Every member's declared shape is checked against `layer_sizes` before its data is read, so
    a file that lies about its sizes is refused without allocating them. `data`: the file's
    bytes, already read (and checked) by the caller; `path` then only names it in messages.
    """
    path = Path(path)
    with _archive(path, data) as archive:
        members = archive.members
        missing = [name for name in _METADATA[:5] if name not in members]
        if missing:
            raise CheckpointError(f"{path}: missing metadata array(s) {', '.join(missing)}")
        version = members["format_version"]
        if version.ndim != 0 or version.dtype.kind not in "iu":
            raise CheckpointError(f"{path}: format_version must be an integer")
        number = int(archive.read("format_version"))
        if number > FORMAT_VERSION:
            raise CheckpointError(
                f"{path}: format version {number} is newer than "
                f"this mlp reads ({FORMAT_VERSION}); upgrade mlp-trainer"
            )
        prep = {name: m for name, m in members.items() if name.startswith(PREP_PREFIX)}
        params = {n for n in members if _PARAM_NAME.match(n)}
        extra = sorted(set(members) - set(_METADATA) - params - set(prep))
        if extra:
            raise CheckpointError(f"{path}: unexpected array(s) {', '.join(extra)}")
        n_layers = _parameter_members(path, members)
        sizes = [members["W1"].shape[0]] + [
            members[f"W{i}"].shape[1] for i in range(1, n_layers + 1)
        ]
        if (
            members["layer_sizes"].shape != (n_layers + 1,)
            or members["layer_sizes"].dtype.kind not in "iu"
        ):
            raise CheckpointError(
                f"{path}: layer_sizes of shape {members['layer_sizes'].shape} contradicts the "
                f"weight shapes {sizes}"
            )
        declared = archive.read("layer_sizes")  # small now: one entry per layer
        if declared.tolist() != sizes:
            raise CheckpointError(
                f"{path}: layer_sizes {declared.tolist()} contradicts the weight shapes {sizes}"
            )
        _check_metadata_shapes(path, members, sizes)
        activation = _scalar_string(archive, "activation")
        if activation not in ACTIVATIONS:
            raise CheckpointError(f"{path}: unknown activation {activation!r}")
        head = _scalar_string(archive, "head") if "head" in members else DEFAULT_HEAD
        if head not in HEADS:
            raise CheckpointError(f"{path}: unknown head {head!r}")
        dtype = _scalar_string(archive, "dtype")
        if any(
            members[f"{p}{i}"].dtype.name != dtype for p in "Wb" for i in range(1, n_layers + 1)
        ):
            raise CheckpointError(f"{path}: weights are not all of the declared dtype {dtype}")
        weights, biases = _read_parameters(archive, n_layers)
        classes = archive.read("classes")
        stat_names = ("mean", "scale", "target_mean", "target_scale")
        stats = {name: archive.read(name) for name in stat_names if name in members}
        names = archive.read("feature_names") if "feature_names" in members else None
        for name, member in prep.items():  # plain numbers, strings or flags, one row each
            if member.ndim > 1 or member.dtype.kind not in "biufU":
                raise CheckpointError(f"{path}: {name} must be a plain 1-D array")
        preprocessing = {name: archive.read(name) for name in prep} or None
    for name, stat in stats.items():
        if not np.isfinite(stat).all():
            raise CheckpointError(f"{path}: {name} must be {len(stat)} finite floats")
        if name.endswith("scale") and (stat <= 0).any():
            raise CheckpointError(f"{path}: {name} must be positive")
    if "target_mean" in stats and head != "identity":
        raise CheckpointError(f"{path}: target_mean and target_scale need the identity head")
    model = MLP.from_arrays(weights, biases, activation=activation, head=head)
    feature_names = None if names is None else tuple(names.tolist())
    return Checkpoint(
        model,
        classes,
        stats.get("mean"),
        stats.get("scale"),
        feature_names,
        preprocessing,
        stats.get("target_mean"),
        stats.get("target_scale"),
    )


# -- training state: everything needed to continue a run exactly where it stopped -----------------

STATE_FORMAT_VERSION = 1


@dataclass(frozen=True)
class TrainingState:
    """A run's full state: weights, optimizer and trainer state, and a few facts about it."""

    params: np.ndarray
    optimizer: dict[str, np.ndarray]
    trainer: dict
    info: dict  # JSON-able facts the caller wants kept (status, epochs asked for, ...)
    best_params: np.ndarray | None = None  # early stopping's best weights so far, if any


def save_training_state(path: str | os.PathLike, state: TrainingState) -> None:
    """Write a training state atomically: arrays as arrays, the rest as one JSON string."""
    trainer = dict(state.trainer)
    order = trainer.pop("order")
    meta = {
        "format_version": STATE_FORMAT_VERSION,
        "trainer": trainer,  # counters and the generator's state (ints of any size)
        "info": state.info,
    }
    arrays = {"params": state.params, "meta": np.asarray(json.dumps(meta))}
    arrays |= {f"optimizer.{name}": np.asarray(value) for name, value in state.optimizer.items()}
    if order is not None:
        arrays["trainer.order"] = order
    if state.best_params is not None:
        arrays["best_params"] = state.best_params
    atomic_write(path, lambda file: np.savez(file, **arrays))


def _check_state_members(path: Path, members: dict[str, Member]) -> None:
    """Every array of a training state shaped as its parameter vector says, before reading."""
    for name in ("meta", "params"):
        if name not in members:
            raise CheckpointError(f"{path}: not a training state file (no {name})")
    meta, params = members["meta"], members["params"]
    if meta.ndim != 0 or meta.dtype.kind != "U":
        raise CheckpointError(f"{path}: member meta: must be one JSON string")
    if params.ndim != 1 or params.dtype.name not in DTYPES:
        raise CheckpointError(f"{path}: params must be a finite float vector")
    for name, member in members.items():
        if name in ("meta", "params"):
            continue
        if name == "trainer.order":
            fits = member.ndim == 1 and member.dtype.kind in "iu"
        elif name == "best_params":
            fits = member.shape == params.shape and member.dtype.kind == "f"
        elif name.startswith("optimizer."):
            # Optimizer state is a scalar, one number per parameter, or a stack of such
            # vectors (L-BFGS's last pairs); the file's size bounds how many.
            per_parameter = member.shape[-1:] == params.shape and member.ndim <= 2
            fits = (member.ndim == 0 or per_parameter) and member.dtype.kind in "biuf"
        else:
            raise CheckpointError(f"{path}: member {name}: not part of a training state")
        if not fits:
            raise CheckpointError(
                f"{path}: member {name}: shape {member.shape} of {member.dtype} does not fit "
                f"the {params.shape[0]} parameters"
            )


def load_training_state(path: str | os.PathLike, data: bytes | None = None) -> TrainingState:
    """Read a state written by `save_training_state` (never unpickling anything); `data`: the
    file's bytes, already read by the caller, as for `load_checkpoint`."""
    path = Path(path)
    with _archive(path, data) as archive:
        _check_state_members(path, archive.members)
        arrays = {name: archive.read(name) for name in archive.members}
    try:
        meta = json.loads(str(arrays.pop("meta")))
        version = meta["format_version"]
        trainer, info = dict(meta["trainer"]), dict(meta["info"])
        if not isinstance(version, int):
            raise TypeError(f"format_version {version!r} is not an integer")
    except (KeyError, TypeError, ValueError, RecursionError) as err:
        raise CheckpointError(f"{path}: not a training state file ({err})") from None
    if version > STATE_FORMAT_VERSION:
        raise CheckpointError(f"{path}: format version {version} is newer than this mlp reads")
    params = arrays.pop("params")
    if not np.isfinite(params).all():
        raise CheckpointError(f"{path}: params must be a finite float vector")
    trainer["order"] = arrays.pop("trainer.order", None)
    best_params = arrays.pop("best_params", None)
    optimizer = {name.removeprefix("optimizer."): value for name, value in arrays.items()}
    return TrainingState(params, optimizer, trainer, info, best_params)
