"""Preparing a dataset for training: seeded splits (stratified by class for a classification,
plain for a regression) and z-score standardisation.

Both are plain NumPy, so a split depends on the data, the sizes and the caller's generator
only, never on the version of a library that happens to be installed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from data.errors import DataError

_EMPTY = np.empty(0, dtype=np.int64)


@dataclass(frozen=True)
class SplitIndices:
    """Row numbers of each part, sorted ascending; a part the caller leaves out is empty.

    Every row of the dataset is in exactly one of `train`, `val` and `test` (int64 arrays).
    """

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray

    def parts(self) -> dict[str, np.ndarray]:
        """{"train": rows, "val": rows, "test": rows}, leaving out the empty parts."""
        named = {"train": self.train, "val": self.val, "test": self.test}
        return {name: rows for name, rows in named.items() if len(rows)}


@dataclass(frozen=True)
class _Cut:
    """One stratified hold-out, described for the error messages."""

    size_name: str  # "test_size"
    out: str  # what the held-out part is called: "test"
    rest: str  # what the remainder is called: "training and validation"
    pool: str  # which samples are cut: "of 150 samples"


def _check_size(size_name: str, size: float) -> None:
    if not (math.isfinite(size) and 0 <= size < 1):
        raise DataError(f"{size_name}={size}: must be at least 0 and less than 1")


def _check_stratifiable(y: np.ndarray, fraction: float, cut: _Cut) -> int:
    """How many samples the cut holds out; raises, saying why, where no stratified cut exists."""
    labels, counts = np.unique(y, return_counts=True)
    n_classes, n = len(labels), len(y)
    n_out = math.ceil(fraction * n)  # rounded up, as scikit-learn's train_test_split does
    said = f"{cut.size_name}={fraction} {cut.pool}"
    if n == 0:
        raise DataError(f"{said}: there is nothing to split")
    if counts.min() < 2:
        k, count = labels[counts.argmin()], counts.min()
        raise DataError(
            f"{said}: class index {k} has only {count} sample; a stratified split needs at "
            f"least 2 of every class (set data.{cut.size_name}: 0, or add samples)"
        )
    if n_out < n_classes:
        raise DataError(
            f"{said} leaves {n_out} for {cut.out}, fewer than the {n_classes} classes; "
            f"a stratified split needs at least one {cut.out} sample per class "
            f"(raise data.{cut.size_name}, or set data.{cut.size_name}: 0)"
        )
    if n - n_out < n_classes:
        raise DataError(
            f"{said} leaves {n - n_out} for {cut.rest}, fewer than the {n_classes} classes; "
            f"a stratified split needs at least one {cut.rest} sample per class "
            f"(set data.{cut.size_name}: {_largest_fraction(n, n_classes)})"
        )
    return n_out


def _largest_fraction(n: int, n_classes: int) -> float:
    """The largest fraction, in hundredths, whose cut of `n` samples leaves at least one of
    each of `n_classes` classes on both sides; 0 (no cut) where none does."""
    for hundredths in range(99, 0, -1):
        n_out = math.ceil(hundredths / 100 * n)  # as the cut itself rounds
        if n_classes <= n_out <= n - n_classes:
            return hundredths / 100
    return 0


def _allocate(counts: np.ndarray, n_out: int, ties: np.ndarray) -> np.ndarray:
    """How many of each class to hold out: `n_out` in all, each within 1 of its exact share.

    Largest remainder: every class gets the whole part of counts * n_out / n, and the samples
    still to place go one each to the classes with the largest fractional parts (computed in
    integers, so exactly), ties broken by the random keys `ties`. A class whose extra sample
    would be its last goes after every other, so that no class is held out whole (leaving
    none of it to train on) where that can be avoided.
    """
    whole, remainder = np.divmod(counts * n_out, counts.sum())
    left = n_out - int(whole.sum())
    empties = whole + 1 >= counts  # one more would hold out the whole class
    # lexsort sorts by its last key first: not emptying, then largest remainder, then `ties`
    order = np.lexsort((ties, -remainder, empties))
    whole[order[:left]] += 1
    return whole


def _hold_out(
    y: np.ndarray, fraction: float, rng: np.random.Generator, cut: _Cut
) -> tuple[np.ndarray, np.ndarray]:
    """(rest, out): positions in `y`, `fraction` of them held out, stratified by `y`, sorted."""
    n_out = _check_stratifiable(y, fraction, cut)
    classes, y_index, counts = np.unique(y, return_inverse=True, return_counts=True)
    # Only rng.random draws, so the split rests on the plainest of a Generator's streams and
    # not on how NumPy implements permutation or choice: one key per sample (its place in its
    # class's random order) and one per class (for ties in the allocation).
    keys = rng.random(len(y))
    ties = rng.random(len(classes))
    take = _allocate(counts, n_out, ties)
    # Sort by class, then by key: each class's samples in random order, classes in turn.
    by_class = np.lexsort((keys, y_index))
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    rank = np.empty(len(y), dtype=np.int64)  # a sample's place in its class's random order
    rank[by_class] = np.arange(len(y)) - np.repeat(starts, counts)
    held = rank < take[y_index]
    return np.flatnonzero(~held), np.flatnonzero(held)


def _hold_out_plain(
    n: int, fraction: float, rng: np.random.Generator, cut: _Cut
) -> tuple[np.ndarray, np.ndarray]:
    """(rest, out): `fraction` of positions 0..n-1 held out at random, unstratified, sorted.

    ceil(fraction * n) rows go out, as in the stratified cut; the rows with the smallest of
    one `rng.random` key each, so it rests on the same plain stream as `_hold_out`.
    """
    n_out = math.ceil(fraction * n)
    said = f"{cut.size_name}={fraction} {cut.pool}"
    if n == 0:
        raise DataError(f"{said}: there is nothing to split")
    if n - n_out < 1:
        raise DataError(f"{said} leaves no row for {cut.rest} (lower data.{cut.size_name})")
    held = np.zeros(n, dtype=bool)
    held[np.argsort(rng.random(n), kind="stable")[:n_out]] = True
    return np.flatnonzero(~held), np.flatnonzero(held)


def split_indices(
    y: np.ndarray,
    *,
    test_size: float,
    val_size: float,
    rng: np.random.Generator,
    stratify: bool = True,
) -> SplitIndices:
    """Hold out `test_size` of all rows for test, then `val_size` of the rest for validation.

    Both cuts hold out ceil(fraction * n) rows. Stratified (a classification's labels `y`),
    they are shared among the classes in proportion to their counts (each class within one
    row of its exact share), the rows of each class chosen at random with `rng`; with
    `stratify` False (a regression's targets: one row of `y` per sample), they are any rows,
    chosen at random with `rng`. The same generator state always gives the same split. A size
    of 0 leaves that part empty and draws nothing from `rng`. A split that cannot be made is
    a DataError saying which cut and why.
    """
    _check_size("test_size", test_size)
    _check_size("val_size", val_size)
    y = np.asarray(y)
    rows = np.arange(len(y), dtype=np.int64)
    test = val = _EMPTY

    def cut_of(part: np.ndarray, fraction: float, cut: _Cut):
        if stratify:
            return _hold_out(part, fraction, rng, cut)
        return _hold_out_plain(len(part), fraction, rng, cut)

    if test_size > 0:
        cut = _Cut("test_size", "test", "training and validation", f"of {len(y)} samples")
        rest, out = cut_of(y, test_size, cut)
        rows, test = rows[rest], rows[out]
    if val_size > 0:
        pool = f"of the {len(rows)} samples left after the test split" if test_size > 0 else None
        cut = _Cut("val_size", "validation", "training", pool or f"of {len(rows)} samples")
        rest, out = cut_of(y[rows], val_size, cut)
        rows, val = rows[rest], rows[out]
    return SplitIndices(train=rows, val=val, test=test)


def stratified_folds(y: np.ndarray, k: int, rng: np.random.Generator) -> list[np.ndarray]:
    """`k` disjoint folds of row numbers (each sorted) that together hold every row once.

    The rows are ordered by class, in a random order within each class (drawn with `rng`),
    and dealt to the folds in turn, as cards: every fold gets within one of n / k rows, and
    of each class within one of its count / k. A class with fewer than `k` rows would leave
    some fold without it, so that is refused, as are k < 2 and non-integer k.
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 2:
        raise DataError(f"folds={k!r}: must be an integer of at least 2")
    y = np.asarray(y)
    labels, y_index, counts = np.unique(y, return_inverse=True, return_counts=True)
    if len(y) == 0:
        raise DataError(f"folds={k}: there is nothing to split")
    if counts.min() < k:
        i = int(counts.argmin())
        raise DataError(
            f"folds={k}: class index {labels[i]} has only {counts[i]} samples, fewer than the "
            f"folds, so some fold would hold none of it (lower the number of folds)"
        )
    keys = rng.random(len(y))  # only rng.random draws, as in `_hold_out`
    order = np.lexsort((keys, y_index))  # by class, then by key
    fold_of = np.empty(len(y), dtype=np.int64)
    fold_of[order] = np.arange(len(y)) % k
    return [np.flatnonzero(fold_of == fold) for fold in range(k)]


def plain_folds(y: np.ndarray, k: int, rng: np.random.Generator) -> list[np.ndarray]:
    """`k` disjoint folds of row numbers (each sorted) that together hold every row once,
    for a regression: the rows in a random order (one `rng.random` key each) dealt to the
    folds in turn, so every fold gets within one of n / k rows. Fewer rows than folds, k < 2
    and non-integer k are refused."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 2:
        raise DataError(f"folds={k!r}: must be an integer of at least 2")
    n = len(y)
    if n < k:
        raise DataError(f"folds={k}: only {n} rows, fewer than the folds")
    fold_of = np.empty(n, dtype=np.int64)
    fold_of[np.argsort(rng.random(n), kind="stable")] = np.arange(n) % k
    return [np.flatnonzero(fold_of == fold) for fold in range(k)]


def fit_standardizer(X_train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and scale (population std) of the training part only, as float64.

    Statistics from the training part alone keep the validation and test parts unseen, as
    they would be in use; the same (mean, scale) are saved with a model for eval and predict.
    A feature that is constant to within rounding gets scale 1 rather than a tiny std that
    would blow its rounding noise up; the rule is scikit-learn StandardScaler's.
    """
    X = np.asarray(X_train, dtype=np.float64)
    n = X.shape[0]
    mean = X.sum(axis=0) / n
    deviation = X - mean
    # the corrected two-pass variance (Chan, Golub and LeVeque): the second term cancels
    # most of the rounding error that `mean` carries into the deviations
    var = ((deviation**2).sum(axis=0) - deviation.sum(axis=0) ** 2 / n) / n
    # A computed variance this small is indistinguishable from a constant's: the two-pass
    # algorithm's error bound from the same paper (the test StandardScaler applies).
    eps = np.finfo(np.float64).eps
    constant = var <= n * eps * var + (n * mean * eps) ** 2
    scale = np.sqrt(var)
    scale[constant] = 1.0
    return mean, scale


def standardize(X: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """z = (x - mean) / scale, with statistics fitted on a training part (or from a model)."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise DataError(f"the data has shape {X.shape}; expected samples by features (2-D)")
    if X.shape[1] != len(mean):
        raise DataError(f"the data has {X.shape[1]} features, the model expects {len(mean)}")
    return (X - mean) / scale
