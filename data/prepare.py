"""Preparing a dataset for training: stratified, seeded splits and z-score standardisation."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from data.cache import Arrays, cached, fingerprint
from data.errors import DataError


@dataclass(frozen=True)
class Splits:
    """Train, validation and test parts; a part the caller leaves out (size 0) is None."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray | None
    y_val: np.ndarray | None
    X_test: np.ndarray | None
    y_test: np.ndarray | None


@dataclass(frozen=True)
class _Cut:
    """One stratified hold-out, described for the error messages."""

    size_name: str  # "test_size"
    out: str  # what the held-out part is called: "test"
    rest: str  # what the remainder is called: "training and validation"
    pool: str  # which samples are cut: "of 150 samples"


def _check_stratifiable(y: np.ndarray, fraction: float, cut: _Cut) -> None:
    """Raise, saying why, where scikit-learn's stratified split would refuse."""
    labels, counts = np.unique(y, return_counts=True)
    n_classes, n = len(labels), len(y)
    n_out = math.ceil(fraction * n)  # how train_test_split rounds a fractional size
    said = f"{cut.size_name}={fraction} {cut.pool}"
    if n == 0:
        raise DataError(f"{said}: there is nothing to split")
    if counts.min() < 2:
        k, count = labels[counts.argmin()], counts.min()
        raise DataError(
            f"{said}: class index {k} has only {count} sample; a stratified split needs at "
            f"least 2 of every class (set {cut.size_name} to 0, or add samples)"
        )
    if n_out < n_classes:
        raise DataError(
            f"{said} leaves {n_out} for {cut.out}, fewer than the {n_classes} classes; "
            f"a stratified split needs at least one {cut.out} sample per class "
            f"(raise {cut.size_name}, or set it to 0)"
        )
    if n - n_out < n_classes:
        raise DataError(
            f"{said} leaves {n - n_out} for {cut.rest}, fewer than the {n_classes} classes; "
            f"a stratified split needs at least one {cut.rest} sample per class "
            f"(lower {cut.size_name})"
        )


def _hold_out(X: np.ndarray, y: np.ndarray, fraction: float, seed: int, cut: _Cut):
    """(X_rest, X_out, y_rest, y_out): `fraction` of (X, y) held out, stratified by y."""
    _check_stratifiable(y, fraction, cut)

    def indices() -> Arrays:
        from sklearn.model_selection import train_test_split  # slow import: only when needed

        rest, out = train_test_split(
            np.arange(len(y)), test_size=fraction, stratify=y, random_state=seed
        )
        return {"rest": rest, "out": out}

    split = cached(
        "split", fingerprint(X, y, fraction=fraction, seed=seed), ("rest", "out"), indices
    )
    return X[split["rest"]], X[split["out"]], y[split["rest"]], y[split["out"]]


def _check_size(size_name: str, size: float) -> None:
    if not (math.isfinite(size) and 0 <= size < 1):
        raise DataError(f"{size_name}={size}: must be at least 0 and less than 1")


def split_dataset(
    X: np.ndarray, y: np.ndarray, *, test_size: float, val_size: float, seed: int
) -> Splits:
    """Hold out `test_size` of everything for test, then `val_size` of the rest for validation.

    Both splits are stratified (class proportions kept) and seeded with scikit-learn's
    `train_test_split(random_state=seed)`, so the same seed always gives the same parts.
    A size of 0 leaves that part out. A split that cannot be stratified is a DataError
    saying which split and why.
    """
    _check_size("test_size", test_size)
    _check_size("val_size", val_size)
    X_test = y_test = X_val = y_val = None
    if test_size > 0:
        cut = _Cut("test_size", "test", "training and validation", f"of {len(y)} samples")
        X, X_test, y, y_test = _hold_out(X, y, test_size, seed, cut)
    if val_size > 0:
        pool = f"of the {len(y)} samples left after the test split" if test_size > 0 else None
        cut = _Cut("val_size", "validation", "training", pool or f"of {len(y)} samples")
        X, X_val, y, y_val = _hold_out(X, y, val_size, seed, cut)
    return Splits(X, y, X_val, y_val, X_test, y_test)


def fit_standardizer(X_train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and scale of the training part only (constant features get scale 1).

    Statistics from the training part alone keep the validation and test parts unseen, as
    they would be in use; the same (mean, scale) are saved with a model for eval and predict.
    """

    def statistics() -> Arrays:
        from sklearn.preprocessing import StandardScaler  # slow import: only when needed

        scaler = StandardScaler().fit(X_train)
        return {"mean": scaler.mean_.astype(np.float64), "scale": scaler.scale_.astype(np.float64)}

    stats = cached("standardizer", fingerprint(X_train), ("mean", "scale"), statistics)
    return stats["mean"], stats["scale"]


def standardize(X: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """z = (x - mean) / scale, with statistics fitted on a training part (or from a model)."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise DataError(f"the data has shape {X.shape}; expected samples by features (2-D)")
    if X.shape[1] != len(mean):
        raise DataError(f"the data has {X.shape[1]} features, the model expects {len(mean)}")
    return (X - mean) / scale


@dataclass(frozen=True)
class SplitIndices:
    """TEMP shim until helper A lands."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def split_indices(y, *, test_size, val_size, rng):
    """TEMP shim."""
    _check_size("test_size", test_size)
    _check_size("val_size", val_size)
    n = len(y)
    rows = np.arange(n)
    def cut(rows, fraction):
        if fraction == 0:
            return rows, rows[:0]
        out = []
        for k in np.unique(y[rows]):
            members = rows[y[rows] == k]
            members = rng.permutation(members)
            m = int(round(fraction * len(members)))
            out.append(members[:m])
        out = np.sort(np.concatenate(out))
        return np.setdiff1d(rows, out), out
    rest, test = cut(rows, test_size)
    train, val = cut(rest, val_size)
    return SplitIndices(train.astype(np.int64), val.astype(np.int64), test.astype(np.int64))
