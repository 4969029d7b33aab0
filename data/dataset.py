"""A loaded dataset: features, class indices, and the original label of each class index."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Dataset:
    """Features, integer labels, and the original label of each class index.

    Class index k is output unit k of a model, and `classes[k]` is its original label; the
    labels are sorted (numerically for numbers), so the mapping follows from the labels alone.
    """

    name: str  # "digits", or the CSV path as given
    X: np.ndarray  # (n_samples, n_features) float64, C-contiguous, all finite
    y: np.ndarray  # (n_samples,) int64 class indices 0..K-1
    classes: np.ndarray  # (K,) original labels, sorted: int64, float64 or str ('U'), never object
    feature_names: tuple[str, ...]
    # What a run records of its data (see data/digest.py), JSON-able: for a CSV its absolute
    # path, size and the SHA-256 of the bytes parsed; for a bundled set its name and the
    # SHA-256 of X, y, classes and feature_names.
    record: dict

    @property
    def n_samples(self) -> int:
        """Rows of X."""
        return self.X.shape[0]

    @property
    def n_features(self) -> int:
        """Columns of X."""
        return self.X.shape[1]

    @property
    def n_classes(self) -> int:
        """Distinct labels."""
        return len(self.classes)
