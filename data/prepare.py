"""Preparing a dataset for training: stratified, seeded splits and z-score standardisation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from data.cache import Arrays, cached, fingerprint
from data.errors import DataError


@dataclass(frozen=True)
class Splits:
    """Train, validation and test parts; a part the config leaves out is None."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray | None
    y_val: np.ndarray | None
    X_test: np.ndarray | None
    y_test: np.ndarray | None


def _hold_out(X, y, fraction: float, seed: int, what: str):
    """Split off `fraction` of (X, y), stratified; a split that cannot be stratified says why."""
    n_classes = len(np.unique(y))
    n_out = int(np.ceil(fraction * len(y)))  # how train_test_split rounds a fractional size
    counts = np.bincount(y)
    smallest = int(counts[counts > 0].min())
    if n_out < n_classes or len(y) - n_out < n_classes or smallest < 2:
        raise DataError(
            f"{what}={fraction} of {len(y)} samples leaves {n_out} for {what.split('_')[0]} and "
            f"{len(y) - n_out} for the rest; a stratified split needs at least one sample of "
            f"each of the {n_classes} classes on both sides (smallest class: {smallest})"
        )

    def indices() -> Arrays:
        from sklearn.model_selection import train_test_split

        keep, out = train_test_split(
            np.arange(len(y)), test_size=fraction, stratify=y, random_state=seed
        )
        return {"keep": keep, "out": out}

    split = cached("split", fingerprint(X, y, fraction=fraction, seed=seed), indices)
    return X[split["keep"]], X[split["out"]], y[split["keep"]], y[split["out"]]


def split_dataset(
    X: np.ndarray, y: np.ndarray, *, test_size: float, val_size: float, seed: int
) -> Splits:
    """Hold out `test_size` of everything for test, then `val_size` of the rest for validation.

    Both splits are stratified (class proportions kept) and seeded with scikit-learn's
    `train_test_split(random_state=seed)`, so the same seed always gives the same parts.
    A size of 0 leaves that part out.
    """
    X_test = y_test = X_val = y_val = None
    if test_size > 0:
        X, X_test, y, y_test = _hold_out(X, y, test_size, seed, "test_size")
    if val_size > 0:
        X, X_val, y, y_val = _hold_out(X, y, val_size, seed, "val_size")
    return Splits(X, y, X_val, y_val, X_test, y_test)


def fit_standardizer(X_train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and scale of the training part (constant features get scale 1)."""

    def statistics() -> Arrays:
        from sklearn.preprocessing import StandardScaler

        scaler = StandardScaler().fit(X_train)
        return {"mean": scaler.mean_.astype(np.float64), "scale": scaler.scale_.astype(np.float64)}

    stats = cached("standardizer", fingerprint(X_train), statistics)
    return stats["mean"], stats["scale"]


def standardize(X: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """z = (x - mean) / scale, with statistics fitted on a training part (or from a model)."""
    if X.shape[1] != len(mean):
        raise DataError(f"the data has {X.shape[1]} features, the model expects {len(mean)}")
    return (X - mean) / scale
