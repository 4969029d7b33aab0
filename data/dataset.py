"""A loaded dataset: features, and class indices with the original label of each class index
(a classification) or the target values with their column names (a regression)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from data.encoding import Roles
    from data.table import Table


@dataclass(frozen=True)
class Dataset:
    """Features, integer labels, and the original label of each class index.

    Class index k is output unit k of a model, and `classes[k]` is its original label; the
    labels are sorted (numerically for numbers), so the mapping follows from the labels alone.
    For a regression (`task`), `y` holds the (n, T) target values in their own units and
    `classes[t]` names target column t, output unit t.
    """

    name: str  # "digits", or the CSV path as given
    # (n_samples, n_features) float64, C-contiguous, all finite; None for a table, whose
    # features are encoded only once the training rows are known (`table`)
    X: np.ndarray | None
    y: np.ndarray  # (n_samples,) int64 class indices 0..K-1; a regression's (n, T) float64
    classes: np.ndarray  # (K,) original labels, sorted: int64, float64 or str ('U'), never object
    feature_names: tuple[str, ...]
    # What a run records of its data (see data/digest.py), JSON-able: for a CSV its absolute
    # path, size and the SHA-256 of the bytes parsed; for a bundled set its name and the
    # SHA-256 of X, y, classes and feature_names.
    record: dict
    table: Table | None = None  # a CSV file's rows that have a label, as read
    roles: Roles | None = None  # which of its columns is the label, the id, a feature
    n_dropped: int = 0  # rows left out because their label (or a target value) was missing
    notes: tuple[str, ...] = ()  # what to tell the user about how the file was read
    task: str = "classification"  # or "regression"

    @property
    def n_samples(self) -> int:
        """Rows (with a label)."""
        return len(self.y)

    @property
    def n_features(self) -> int:
        """Feature columns, as read (a table's categories become more inputs once encoded)."""
        return len(self.feature_names)

    @property
    def n_classes(self) -> int:
        """Distinct labels: the output units (a regression's target columns)."""
        return len(self.classes)
