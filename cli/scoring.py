"""Which rows `mlp eval` scores and what `mlp predict` reads, turned into the model's inputs
with the run's own stored preprocessing.

Nothing here rebuilds a split: the rows come from the run's split.npz, and the data must be
byte for byte (or, for a bundled set, array for array) the data the run recorded. Another file
(`eval --data`, `predict`) is read with the run's delimiter and header settings, its columns
matched by name, and encoded with what the run learned from its training rows.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cli import rundir
from cli.config import Config, loads_config, table_settings
from cli.rundir import SPLITS, CompletedRun, RunError, describe_data_change
from cli.usage import UsageError
from data import (
    DataError,
    Dataset,
    Preprocessor,
    encode_labels,
    file_record,
    load_dataset,
    numeric_columns,
    read_rows,
    standardize,
)
from data.table import Table
from mlp import Checkpoint, CheckpointError, predict


@dataclass(frozen=True)
class Rows:
    """Model inputs and class indices to score, and what they are, for the report."""

    X: np.ndarray
    y: np.ndarray
    split: str  # "test", "val", "train", or "all rows" of another file
    data: str  # the file or bundled set they come from
    unseen: dict[str, int] = field(default_factory=dict)  # column -> cells of new categories
    n_unlabelled: int = 0  # rows of the file left out: their label cell is empty

    @property
    def n_read(self) -> int:
        """Every row read: those scored and those left out without a label."""
        return len(self.y) + self.n_unlabelled


def _recorded_source_check(run: CompletedRun, path: Path | None) -> None:
    """Refuse cheaply, before parsing anything, a CSV that is not the recorded one."""
    source = run.data["source"]
    if source.get("kind") != "csv":
        return
    where = path or Path(source["path"])
    if not where.is_file():
        raise RunError(
            f"{where}: not found; the run {run.path} was trained on it "
            f"(sha256 {source['sha256'][:12]}...); score a file with --data FILE"
        )
    now = file_record(where)
    if now["size"] != source["size"] or now["sha256"] != source["sha256"]:
        raise RunError(describe_data_change(source, now) + "; score it with --data FILE")


def same_data(run: CompletedRun, path: Path) -> bool:
    """True when the file at `path` is the run's own data, maybe moved (its SHA-256 matches)."""
    source = run.data["source"]
    if source.get("kind") != "csv" or not path.is_file():
        return False
    return file_record(path)["sha256"] == source["sha256"]


def recorded_rows(
    run: CompletedRun, config: Config, checkpoint: Checkpoint, split: str, path: Path | None
) -> Rows:
    """The rows of one recorded part, from the run's data (or the same data moved to `path`)."""
    if split not in run.split:
        raise RunError(f"{run.path}: this run has no {split} split (see its config.yaml)")
    _recorded_source_check(run, path)
    source = str(path) if path is not None else config.data.dataset
    dataset = load_dataset(source, table_settings(config))
    if dataset.record.get("sha256") != run.data["source"].get("sha256"):
        raise RunError(describe_data_change(run.data["source"], dataset.record))
    rows = run.split[split]
    if len(rows) and (rows.min() < 0 or rows.max() >= dataset.n_samples):
        raise RunError(f"{run.path}: split.npz names rows the data does not have")
    X, unseen = _dataset_inputs(checkpoint, dataset, rows)
    return Rows(X, dataset.y[rows], split, dataset.name, unseen)


def _dataset_inputs(
    checkpoint: Checkpoint, dataset: Dataset, rows: np.ndarray
) -> tuple[np.ndarray, dict[str, int]]:
    if dataset.table is not None:
        return _table_inputs(checkpoint, dataset.table.take(rows))
    assert dataset.X is not None
    return _scaled(checkpoint, dataset.X[rows]), {}


def _scaled(checkpoint: Checkpoint, X: np.ndarray) -> np.ndarray:
    if checkpoint.mean is not None and checkpoint.scale is not None:
        return standardize(X, checkpoint.mean, checkpoint.scale)  # the training statistics
    return X


def _table_inputs(checkpoint: Checkpoint, table: Table) -> tuple[np.ndarray, dict[str, int]]:
    """A table's rows as the model's inputs: encoded as the run learned, or (a model of a
    bundled set) its numeric feature columns by name, scaled with the stored statistics."""
    if checkpoint.preprocessing:
        encoded = Preprocessor.from_arrays(checkpoint.preprocessing).encode(table)
        return encoded.X, encoded.unseen
    names = checkpoint.feature_names
    if names is None:  # a bare model without names: the file's columns, in order
        names = table.names[: checkpoint.model.layer_sizes[0]]
    return _scaled(checkpoint, numeric_columns(table, tuple(names))), {}


def file_rows(checkpoint: Checkpoint, config: Config, data: dict, path: Path) -> Rows:
    """Every labelled row of another file: its label column is the run's (by default the
    file's last column), and every label must be one of the model's classes; for a
    regression, its target columns (the model's, by name) hold numbers."""
    settings = config.data
    table = read_rows(path, settings.delimiter, settings.header, settings.id, settings.decimal)
    if checkpoint.model.head.targets == "values":
        return _file_target_rows(checkpoint, table, path)
    target = data.get("target") or config.data.target or table.names[-1]
    # A row without a label is left out and counted (n_unlabelled), whatever the run's
    # data.missing: that key says how the run trained, not which rows another file may score.
    labels = encode_labels(table, target, missing="impute", classes=np.asarray(checkpoint.classes))
    X, unseen = _table_inputs(checkpoint, table.take(np.flatnonzero(labels.kept)))
    unlabelled = int(table.n_rows - np.count_nonzero(labels.kept))
    return Rows(X, labels.y, "all rows", str(path), unseen, unlabelled)


def _file_target_rows(checkpoint: Checkpoint, table: Table, path: Path) -> Rows:
    """A regression's rows of another file: those whose every target cell holds a number (a
    row with an empty one is left out and counted, as a classifier's unlabelled rows)."""
    targets = tuple(str(name) for name in checkpoint.classes.tolist())
    absent = [name for name in targets if not table.has(name)]
    if absent:
        raise DataError(f"{table.source}: missing the run's target column {absent[0]!r}")
    kept = np.ones(table.n_rows, dtype=bool)
    for name in targets:
        kept &= ~table.column(name).missing
    rows = np.flatnonzero(kept)
    y = numeric_columns(table.take(rows), targets)  # one line naming a cell that is no number
    X, unseen = _table_inputs(checkpoint, table.take(rows))
    return Rows(X, y, "all rows", str(path), unseen, int(table.n_rows - len(rows)))


def unlabelled_line(rows: Rows) -> str | None:
    """What to say on stderr about rows of a file left out for want of a label."""
    if not rows.n_unlabelled:
        return None
    missing = "label" if rows.y.ndim == 1 else "target value"  # a regression's y is (n, T)
    return (
        f"note: {rows.n_unlabelled} of {rows.n_read} rows of {rows.data} have no {missing} and "
        f"were left out; {len(rows.y)} scored"
    )


# A table run's model file records how the run reads a table (checkpoint format 2), so that
# `mlp predict RUN/model.npz` reads a file exactly as `mlp predict RUN` does, with no config.
READING = "prep.reading"


@dataclass(frozen=True)
class Reading:
    """How a table is read for a model: its id column (copied into predictions), delimiter,
    header setting and decimal mark."""

    id: str | None = None
    delimiter: str = "auto"
    header: bool = True
    decimal: str = "auto"


def reading_arrays(config: Config, id_column: str | None) -> dict[str, np.ndarray]:
    """The model file's record of how the run reads tables; `id_column`: the run's id column
    as the data found it."""
    data = config.data
    reading = Reading(id_column, data.delimiter, data.header, data.decimal)
    return {READING: np.array([json.dumps(dataclasses.asdict(reading))])}


def reading_of(checkpoint: Checkpoint, config: Config | None, model_path: Path) -> Reading:
    """How to read a table for this model: as its file records (format 2), else as the run's
    config says (`config`, or the config.yaml beside an older model file), else the defaults."""
    recorded = (checkpoint.preprocessing or {}).get(READING)
    if recorded is not None:
        try:
            fields = json.loads(str(recorded[0]))
            return Reading(**fields)
        except (ValueError, TypeError, IndexError):
            raise RunError(
                f"{model_path}: {READING} is not a record of how to read a table"
            ) from None
    beside = model_path.parent / "config.yaml"
    if config is None and model_path.name != "config.yaml" and beside.is_file():
        config = loads_config(beside.read_text(encoding="utf-8"), source=str(beside))
    if config is None:
        return Reading()
    data = config.data
    return Reading(data.id, data.delimiter, data.header, data.decimal)


@dataclass(frozen=True)
class Inputs:
    """A file to predict on, as the model's inputs, with its ids when the run has an id column."""

    X: np.ndarray
    ids: np.ndarray | None
    id_column: str | None
    unseen: dict[str, int]


def predict_inputs(
    checkpoint: Checkpoint, config: Config | None, path: Path, model_path: Path
) -> Inputs:
    """Read `path` as the run reads tables (`reading_of`), as the model's inputs and ids."""
    reading = reading_of(checkpoint, config, model_path)
    id_column = reading.id
    table = read_rows(path, reading.delimiter, reading.header, id_column, reading.decimal)
    X, unseen = _table_inputs(checkpoint, table)
    # the id as the characters in the file: `001000025` stays so
    ids = table.column(id_column).text() if id_column and table.has(id_column) else None
    return Inputs(X, ids, id_column if ids is not None else None, unseen)


def unseen_lines(unseen: dict[str, int]) -> list[str]:
    """What to say on stderr about categories the training rows did not have."""
    return [
        f"note: {count} cell(s) of column {name!r} hold a category the training rows did not "
        "have; they were encoded as all zeros"
        for name, count in unseen.items()
    ]


def value_columns(checkpoint: Checkpoint) -> list[str]:
    """A regression's prediction columns: `prediction`, or one `prediction_<target>` each."""
    names = [str(name) for name in checkpoint.classes.tolist()]
    return ["prediction"] if len(names) == 1 else [f"prediction_{name}" for name in names]


def values_csv(inputs: Inputs, values: np.ndarray, checkpoint: Checkpoint) -> str:
    """`mlp predict`'s CSV for a regression: the id column when the run has one, then one
    column per target, in the target's own units (repr: exact)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    header = [inputs.id_column] if inputs.ids is not None else []
    writer.writerow(header + value_columns(checkpoint))
    ids = inputs.ids.tolist() if inputs.ids is not None else None
    for i, row_values in enumerate(values.tolist()):
        row = [ids[i]] if ids is not None else []
        writer.writerow(row + [repr(float(v)) for v in row_values])
    return buffer.getvalue()


def predicted_values(checkpoint: Checkpoint, X: np.ndarray) -> np.ndarray:
    """A regression model's predictions for the inputs X, in the targets' own units."""
    return checkpoint.to_target_units(predict(checkpoint.model, X))


def predictions_csv(
    inputs: Inputs,
    labels: np.ndarray,
    probabilities: np.ndarray | None,
    checkpoint: Checkpoint,
) -> str:
    """`mlp predict`'s CSV: the id column (as the file wrote it) when the run has one, the
    predicted label, and with `probabilities` each class's as `p_<class>` (repr: exact)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    header = [inputs.id_column] if inputs.ids is not None else []
    header += ["prediction"]
    if probabilities is not None:
        header += [f"p_{label}" for label in checkpoint.classes.tolist()]
    writer.writerow(header)
    ids = inputs.ids.tolist() if inputs.ids is not None else None
    for i, label in enumerate(labels.tolist()):
        row = [ids[i]] if ids is not None else []
        row.append(label)
        if probabilities is not None:
            row += [repr(float(p)) for p in probabilities[i]]
        writer.writerow(row)
    return buffer.getvalue()


def checked_model(checkpoint: Checkpoint, path: Path) -> Checkpoint:
    """A model read from `path`, with its stored preprocessing checked against itself and the
    network: a damaged `prep.*` member is one line naming the file and the member."""
    if checkpoint.preprocessing:
        try:
            prep = Preprocessor.from_arrays(checkpoint.preprocessing)
        except DataError as err:
            raise CheckpointError(f"{path}: {err}") from None
        if prep.n_features != checkpoint.model.layer_sizes[0]:
            raise CheckpointError(
                f"{path}: prep.* encodes {prep.n_features} features; the network takes "
                f"{checkpoint.model.layer_sizes[0]}"
            )
    return checkpoint


def rows_to_score(run: Path, split: str | None, data: Path | None):
    """The completed run, its checked model, and the rows `mlp eval` scores: the recorded
    `split` (default test) of the run's own data, or every labelled row of another file."""
    if split is not None and split not in SPLITS:
        raise UsageError(f"--split {split}: choose one of {', '.join(SPLITS)}")
    completed = rundir.open_completed(run)
    config = loads_config(completed.config_text, source=f"{completed.path}: config.yaml")
    # read from the bytes its summary vouches for, its preprocessing checked
    checkpoint = checked_model(completed.checkpoint, completed.model_path)
    if data is None or same_data(completed, data):
        rows = recorded_rows(completed, config, checkpoint, split or "test", data)
    elif split is not None:
        raise UsageError(
            f"--split {split}: {data} is not the run's own data (its SHA-256 differs), "
            "so every row of it is scored; leave out --split"
        )
    else:
        rows = file_rows(checkpoint, config, completed.data, data)
    return completed, checkpoint, rows
