"""Saving and loading trained models as `.npz` files, atomically and without pickle.

The format is a contract that other tools read and write: arrays `W1..WL` of shape
(fan_in, fan_out) and `b1..bL` of shape (fan_out,), plus metadata arrays:

    format_version  int       this file's format (FORMAT_VERSION)
    layer_sizes     int64 (L+1,)   [d, h1, ..., K]
    activation      str       hidden-layer activation, e.g. "sigmoid"
    dtype           str       "float64" or "float32"
    classes         (K,)      the original class labels, index k <-> output unit k
    mean, scale     (d,)      optional: inputs are standardised as (x - mean) / scale
    feature_names   (d,) str  optional: the input columns, in order

Loading never unpickles (`allow_pickle=False`): no code inside a file is ever run.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlp.functions import ACTIVATIONS
from mlp.network import DTYPES, MLP

FORMAT_VERSION = 1
_PARAM_NAME = re.compile(r"^[Wb](\d+)$")
_METADATA = (
    "format_version",
    "layer_sizes",
    "activation",
    "dtype",
    "classes",
    "mean",
    "scale",
    "feature_names",
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


def atomic_write(path: str | os.PathLike, write) -> None:
    """Call `write(file)` on a temporary file beside `path`, then move it over `path`.

    `os.replace` is atomic on one filesystem, so a reader sees the old file or the new one,
    never half of one; if `write` fails, the temporary file is removed and `path` is untouched.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException as err:  # KeyboardInterrupt too: never leave the temporary file behind
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(err, OSError) and err.filename is None:  # say which file failed
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
    arrays["classes"] = np.asarray(checkpoint.classes)
    if checkpoint.mean is not None and checkpoint.scale is not None:
        arrays["mean"] = np.asarray(checkpoint.mean, dtype=np.float64)
        arrays["scale"] = np.asarray(checkpoint.scale, dtype=np.float64)
    if checkpoint.feature_names is not None:
        arrays["feature_names"] = np.asarray(checkpoint.feature_names, dtype=str)
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


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    # The file is opened here, not by np.load, so that it is closed whatever np.load raises.
    try:
        with open(path, "rb") as file:
            loaded = np.load(file, allow_pickle=False)
            if not isinstance(loaded, np.lib.npyio.NpzFile):
                raise CheckpointError(f"{path}: holds a single array, not an .npz archive")
            return {name: loaded[name] for name in loaded.files}
    except ValueError as err:  # numpy's answer to pickled data when pickles are not allowed
        if isinstance(err, CheckpointError):
            raise
        if "pickle" in str(err):
            raise CheckpointError(f"{path}: holds pickled data or object arrays; refused") from None
        raise CheckpointError(f"{path}: damaged checkpoint ({err})") from None
    except (OSError, EOFError, zipfile.BadZipFile) as err:
        raise CheckpointError(f"{path}: not a readable .npz checkpoint ({err})") from None


def _parameter_arrays(path: Path, arrays: dict[str, np.ndarray]):
    """The W_l and b_l arrays in layer order, checked to chain into one network."""
    numbers = sorted({int(m.group(1)) for name in arrays if (m := _PARAM_NAME.match(name))})
    n_layers = len(numbers)
    if numbers != list(range(1, n_layers + 1)) or n_layers == 0:
        raise CheckpointError(f"{path}: expected arrays W1..WL and b1..bL, found {sorted(arrays)}")
    for i in range(1, n_layers + 1):
        for name in (f"W{i}", f"b{i}"):
            if name not in arrays:
                raise CheckpointError(f"{path}: {name} is missing")
    weights = [arrays[f"W{i}"] for i in range(1, n_layers + 1)]
    biases = [arrays[f"b{i}"] for i in range(1, n_layers + 1)]
    for i, (W, b) in enumerate(zip(weights, biases), start=1):
        if W.ndim != 2 or b.ndim != 1 or b.shape[0] != W.shape[1]:
            raise CheckpointError(f"{path}: W{i} {W.shape} and b{i} {b.shape} do not fit together")
        if i > 1 and W.shape[0] != weights[i - 2].shape[1]:
            raise CheckpointError(
                f"{path}: W{i} has {W.shape[0]} inputs but layer {i - 1} has "
                f"{weights[i - 2].shape[1]} units"
            )
        for name, array in ((f"W{i}", W), (f"b{i}", b)):
            if array.dtype.name not in DTYPES:
                raise CheckpointError(f"{path}: {name} has dtype {array.dtype}, expected float")
            if not np.isfinite(array).all():
                raise CheckpointError(f"{path}: {name} contains NaN or infinity")
    return weights, biases


def load_weights(path: str | os.PathLike, activation: str = "sigmoid") -> MLP:
    """Read only W1..WL and b1..bL (e.g. weights written by another tool) into a network."""
    path = Path(path)
    weights, biases = _parameter_arrays(path, _read_arrays(path))
    return MLP.from_arrays(weights, biases, activation=activation)


def _scalar_string(path: Path, arrays: dict[str, np.ndarray], name: str) -> str:
    value = arrays[name]
    if value.ndim != 0 or value.dtype.kind != "U":
        raise CheckpointError(f"{path}: {name} must be a string, got {value!r}")
    return str(value)


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read a checkpoint written by `save_checkpoint`, checking every array against the metadata."""
    path = Path(path)
    arrays = _read_arrays(path)
    missing = [name for name in _METADATA[:5] if name not in arrays]
    if missing:
        raise CheckpointError(f"{path}: missing metadata array(s) {', '.join(missing)}")
    version = arrays["format_version"]
    if version.ndim != 0 or version.dtype.kind not in "iu":
        raise CheckpointError(f"{path}: format_version must be an integer")
    if int(version) > FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: format version {int(version)} is newer than this mlp reads "
            f"({FORMAT_VERSION}); upgrade mlp-trainer"
        )
    extra = sorted(set(arrays) - set(_METADATA) - {n for n in arrays if _PARAM_NAME.match(n)})
    if extra:
        raise CheckpointError(f"{path}: unexpected array(s) {', '.join(extra)}")
    weights, biases = _parameter_arrays(path, arrays)
    sizes = [weights[0].shape[0]] + [W.shape[1] for W in weights]
    declared = arrays["layer_sizes"]
    if declared.ndim != 1 or declared.dtype.kind not in "iu" or declared.tolist() != sizes:
        raise CheckpointError(
            f"{path}: layer_sizes {declared.tolist()} contradicts the weight shapes {sizes}"
        )
    activation = _scalar_string(path, arrays, "activation")
    if activation not in ACTIVATIONS:
        raise CheckpointError(f"{path}: unknown activation {activation!r}")
    dtype = _scalar_string(path, arrays, "dtype")
    if any(a.dtype.name != dtype for a in (*weights, *biases)):
        raise CheckpointError(f"{path}: weights are not all of the declared dtype {dtype}")
    classes = arrays["classes"]
    if classes.ndim != 1 or len(classes) != sizes[-1] or classes.dtype.kind not in "iufU":
        raise CheckpointError(
            f"{path}: classes must list {sizes[-1]} labels (one per output unit), got {classes!r}"
        )
    mean, scale = arrays.get("mean"), arrays.get("scale")
    if (mean is None) != (scale is None):
        raise CheckpointError(f"{path}: mean and scale must be stored together")
    if mean is not None and scale is not None:
        for name, stat in (("mean", mean), ("scale", scale)):
            if stat.shape != (sizes[0],) or stat.dtype.kind != "f" or not np.isfinite(stat).all():
                raise CheckpointError(
                    f"{path}: {name} must be {sizes[0]} finite floats, got shape {stat.shape}"
                )
        if (scale <= 0).any():
            raise CheckpointError(f"{path}: scale must be positive")
    names = arrays.get("feature_names")
    if names is not None and (names.shape != (sizes[0],) or names.dtype.kind != "U"):
        raise CheckpointError(f"{path}: feature_names must be {sizes[0]} strings")
    model = MLP.from_arrays(weights, biases, activation=activation)
    feature_names = None if names is None else tuple(names.tolist())
    return Checkpoint(model, classes, mean, scale, feature_names)


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


def load_training_state(path: str | os.PathLike) -> TrainingState:
    """Read a state written by `save_training_state` (never unpickling anything)."""
    path = Path(path)
    arrays = _read_arrays(path)
    try:
        meta = json.loads(str(arrays.pop("meta")))
        params = arrays.pop("params")
        version = meta["format_version"]
        trainer, info = dict(meta["trainer"]), dict(meta["info"])
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"{path}: not a training state file ({err})") from None
    if version > STATE_FORMAT_VERSION:
        raise CheckpointError(f"{path}: format version {version} is newer than this mlp reads")
    if params.ndim != 1 or params.dtype.name not in DTYPES or not np.isfinite(params).all():
        raise CheckpointError(f"{path}: params must be a finite float vector")
    trainer["order"] = arrays.pop("trainer.order", None)
    best_params = arrays.pop("best_params", None)
    optimizer = {
        name.removeprefix("optimizer."): value
        for name, value in arrays.items()
        if name.startswith("optimizer.")
    }
    return TrainingState(params, optimizer, trainer, info, best_params)
