"""Which rows `mlp eval` scores: exactly the recorded rows of a run's own data, checked against
its digest, or every row of another labelled file (`--data`).

Nothing here rebuilds a split: the rows come from the run's split.npz, and the data must be
byte for byte (or, for a bundled set, array for array) the data the run recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cli.config import Config
from cli.rundir import CompletedRun, RunError, describe_data_change
from data import file_record, load_dataset, load_features, load_labels
from mlp import Checkpoint


@dataclass(frozen=True)
class Rows:
    """Raw features and class indices to score, and what they are, for the report."""

    X: np.ndarray
    y: np.ndarray
    split: str  # "test", "val", "train", or "all rows" of another file
    data: str  # the file or bundled set they come from


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


def recorded_rows(run: CompletedRun, config: Config, split: str, path: Path | None) -> Rows:
    """The rows of one recorded part, from the run's data (or the same data moved to `path`)."""
    if split not in run.split:
        raise RunError(f"{run.path}: this run has no {split} split (see its config.yaml)")
    _recorded_source_check(run, path)
    source = str(path) if path is not None else config.data.dataset
    dataset = load_dataset(source, target=config.data.target)
    if dataset.record.get("sha256") != run.data["source"].get("sha256"):
        raise RunError(describe_data_change(run.data["source"], dataset.record))
    rows = run.split[split]
    if len(rows) and (rows.min() < 0 or rows.max() >= dataset.n_samples):
        raise RunError(f"{run.path}: split.npz names rows the data does not have")
    return Rows(dataset.X[rows], dataset.y[rows], split, dataset.name)


def file_rows(checkpoint: Checkpoint, config: Config, path: Path) -> Rows:
    """Every row of a labelled CSV file, its columns matched by name to the model's features,
    its labels (the run's target column, else the file's last) matched to the model's classes."""
    model_inputs = checkpoint.model.layer_sizes[0]
    X = load_features(path, checkpoint.feature_names, model_inputs)
    column, labels = load_labels(path, config.data.target)
    known = {str(label): k for k, label in enumerate(checkpoint.classes.tolist())}
    unknown = sorted({label for label in labels if label not in known})
    if unknown:
        shown = ", ".join(repr(label) for label in unknown[:5])
        raise RunError(
            f"{path}: label(s) {shown} in column {column!r} are not among the run's classes "
            f"{list(known)}"
        )
    y = np.array([known[label] for label in labels], dtype=np.int64)
    return Rows(X, y, "all rows", str(path))
