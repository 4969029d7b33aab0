"""The output heads: what the top layer's z_L become, the loss on them, and its delta_L.

A head is the last step of the derivation in docs/math.md. Backpropagation only needs its
delta_L = dE/dz_L; everything below the top layer is shared. Two are declared:

- `softmax`: p = softmax(z_L) with the mean cross-entropy E = -(1/B) sum_i log p_{i, y_i};
  delta_L = (p - onehot(y)) / B. Targets are class indices 0..K-1; it scores accuracy.
- `identity`: y_hat = z_L with the squared error E = 1/(2B) sum_i ||y_hat_i - y_i||^2;
  delta_L = (y_hat - y) / B. Targets are real (B, T) arrays; it scores R^2.

Each head declares what the rest of the code asks of it (targets, scores, when a loss counts
as diverged, its ONNX operator), so a third head is one more entry in HEADS.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mlp.functions import cross_entropy, softmax, softmax_cross_entropy

# When a finite epoch loss means training has diverged (`Head.loss_limit`), as a multiple of
# the loss of a model that has learned nothing. Softmax: guessing uniformly costs log K, and
# training only starts near it and goes down; ten times that means the weights have blown up
# before any number overflowed (lr 1e6 reaches losses of 1e6 that way). Identity: predicting
# the training mean costs 1/2 sum_t var(y_t) (1/2 per output for a standardised target); a
# squared error a million times that has left the data behind for good, while a poor but
# sane start (a few times the variance) stays far below it.
SOFTMAX_DIVERGENCE_FACTOR = 10.0
IDENTITY_DIVERGENCE_FACTOR = 1e6


def check_class_indices(y: np.ndarray, n_outputs: int, what: str = "labels") -> None:
    """Raise ValueError unless `y` is a vector of class indices 0, ..., n_outputs - 1."""
    if y.ndim != 1:
        raise ValueError(f"{what} must be a vector of class indices, got shape {y.shape}")
    outside = np.flatnonzero((y < 0) | (y >= n_outputs))
    if len(outside):
        row = int(outside[0])
        raise ValueError(
            f"{what} must be class indices 0 to {n_outputs - 1}; row {row} has {y[row]!r}"
        )


def check_real_targets(y: np.ndarray, n_outputs: int, what: str = "targets") -> None:
    """Raise ValueError unless `y` is a finite (n, n_outputs) array of numbers."""
    if y.ndim != 2 or y.shape[1] != n_outputs:
        raise ValueError(f"{what} must have shape (n, {n_outputs}), got {y.shape}")
    if y.dtype.kind not in "fiu":
        raise ValueError(f"{what} must be numbers, got {y.dtype}")
    bad = np.flatnonzero(~np.isfinite(y).all(axis=1))
    if len(bad):
        raise ValueError(f"{what} must be finite; row {int(bad[0])} is not")


# -- softmax with cross-entropy ---------------------------------------------------------------


def _count_correct(logits: np.ndarray, y: np.ndarray) -> int:
    # a plain int: summed every step, an array here cost 1.7 us a step (2% of digits' step)
    return int(np.count_nonzero(logits.argmax(axis=1) == y))


def _accuracy(tally: int, y: np.ndarray) -> dict[str, float]:
    return {"accuracy": tally / len(y)}


def _ten_times_chance(y: np.ndarray, n_outputs: int) -> tuple[float, str]:
    bound = SOFTMAX_DIVERGENCE_FACTOR * math.log(n_outputs)
    return bound, f"{SOFTMAX_DIVERGENCE_FACTOR:g} x log({n_outputs}), ten times chance level"


# -- identity with squared error --------------------------------------------------------------


def squared_error(outputs: np.ndarray, y: np.ndarray) -> float:
    """E = 1/(2B) sum_i ||y_hat_i - y_i||^2: half the squared error, summed over the outputs
    and averaged over the rows (scikit-learn's MLPRegressor divides by the outputs too; its
    gradient does not, so for one output the two agree)."""
    residual = outputs - y
    return 0.5 * float(np.vdot(residual, residual)) / len(y)


def identity_squared_error(
    outputs: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None
) -> tuple[float, np.ndarray]:
    """The squared error E and dE/dz_L = (y_hat - y) / B (with sample weights w, E = sum_i w_i
    l_i / sum_i w_i and row i of the gradient w_i (y_hat_i - y_i) / sum_i w_i)."""
    delta = outputs - y  # y_hat - y
    per_row = 0.5 * np.einsum("ij,ij->i", delta, delta)
    if weights is None:
        delta /= len(y)
        return float(per_row.sum()) / len(y), delta
    share = np.asarray(weights, dtype=outputs.dtype) / np.sum(weights)
    delta *= share[:, None]
    return float(share @ per_row), delta


def _sum_squared_residuals(outputs: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per output, sum_i (y_hat_it - y_it)^2: adds up over the batches of an epoch."""
    residual = outputs - y
    return np.einsum("ij,ij->j", residual, residual)


def r2_scores(y: np.ndarray, y_hat: np.ndarray, reference: np.ndarray | None = None) -> np.ndarray:
    """Per output, R^2 = 1 - sum (y - y_hat)^2 / sum (y - reference)^2, where the reference is
    the mean of `y` (the coefficient of determination, scikit-learn's r2_score) unless given.

    A constant output column (zero denominator) scores 1 if predicted exactly, else 0, as
    scikit-learn scores it.
    """
    y, y_hat = np.asarray(y, dtype=np.float64), np.asarray(y_hat, dtype=np.float64)
    centre = y.mean(axis=0) if reference is None else np.asarray(reference, dtype=np.float64)
    residual = ((y - y_hat) ** 2).sum(axis=0)
    total = ((y - centre) ** 2).sum(axis=0)
    exact = np.where(residual == 0, 1.0, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0, 1.0 - residual / np.where(total > 0, total, 1.0), exact)


def _r2_from_tally(tally: np.ndarray, y: np.ndarray) -> dict[str, float]:
    total = ((y - y.mean(axis=0)) ** 2).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(total > 0, 1.0 - tally / np.where(total > 0, total, 1.0), 0.0)
    return {"r2": float(r2.mean())}


def _far_above_the_mean(y: np.ndarray, n_outputs: int) -> tuple[float, str]:
    baseline = 0.5 * float(np.var(y, axis=0).sum())
    if baseline == 0:  # a constant training target: no scale to measure a blow-up against
        return np.inf, "no bound: the training target is constant"
    reason = (
        f"{IDENTITY_DIVERGENCE_FACTOR:g} x {baseline:.4g}, the squared error of always "
        "predicting the training mean"
    )
    return IDENTITY_DIVERGENCE_FACTOR * baseline, reason


# -- the declaration --------------------------------------------------------------------------


@dataclass(frozen=True)
class Head:
    """An output layer and its loss, and what the trainer, evaluation and export ask of it.

    `output(z)`: the prediction from the top pre-activations (probabilities or values).
    `loss(z, y)`: the mean loss E; `loss_and_delta(z, y, w)`: E and delta_L = dE/dz_L at once
    (sample weights `w` optional). `targets`: "classes" (a vector of indices) or "values" (an
    (n, T) array); `check_targets(y, n_outputs, what)` raises ValueError on anything else.
    `score`: the figure the training reports beside the loss ("accuracy", "r2"), computed for
    an epoch from the per-batch sums `tally(z, y)` by `score_from_tally(sums, y)`.
    `val_scores`: the evaluation's figures reported for the validation set each epoch.
    `loss_limit(y_train, n_outputs)`: (bound, why) — an epoch whose mean training loss is
    above the bound has diverged, though still finite; `why` says what the bound is.
    `onnx_op`: the operator that computes `output` in an exported graph ("" for none: the
    graph's output is z_L itself).
    """

    name: str
    task: str
    loss_name: str
    output: Callable[[np.ndarray], np.ndarray]
    loss: Callable[[np.ndarray, np.ndarray], float]
    loss_and_delta: Callable[..., tuple[float, np.ndarray]]
    targets: str
    check_targets: Callable[..., None]
    score: str
    val_scores: tuple[str, ...]
    tally: Callable[[np.ndarray, np.ndarray], int | np.ndarray]
    score_from_tally: Callable[[int | np.ndarray, np.ndarray], dict[str, float]]
    loss_limit: Callable[[np.ndarray, int], tuple[float, str]]
    onnx_op: str
    # How `mlp explain` names its output and writes its equations, as docs/math.md does.
    symbol: str = "p"
    equations: tuple[str, str, str] = ("", "", "")  # the output, the loss E, and delta_L

    @property
    def target_noun(self) -> str:
        """What its targets are called in messages: "labels" or "targets"."""
        return "labels" if self.targets == "classes" else "targets"

    def target_dtype(self, model_dtype: np.dtype) -> np.dtype:
        """The dtype training holds the targets in: indices, or the model's float type."""
        return np.dtype(np.intp) if self.targets == "classes" else np.dtype(model_dtype)


HEADS: dict[str, Head] = {
    head.name: head
    for head in (
        Head(
            name="softmax",
            task="classification",
            loss_name="cross-entropy",
            output=softmax,
            loss=cross_entropy,
            loss_and_delta=softmax_cross_entropy,
            targets="classes",
            check_targets=check_class_indices,
            score="accuracy",
            val_scores=("accuracy", "balanced_accuracy"),
            tally=_count_correct,
            score_from_tally=_accuracy,
            loss_limit=_ten_times_chance,
            onnx_op="Softmax",
            symbol="p",
            equations=(
                "p = softmax(z_L)",
                "E = -(1/B) sum_i log p_{i, y_i}",
                "delta_L = (p - y) / B",
            ),
        ),
        Head(
            name="identity",
            task="regression",
            loss_name="squared error",
            output=lambda z: z,
            loss=squared_error,
            loss_and_delta=identity_squared_error,
            targets="values",
            check_targets=check_real_targets,
            score="r2",
            val_scores=("r2",),
            tally=_sum_squared_residuals,
            score_from_tally=_r2_from_tally,
            loss_limit=_far_above_the_mean,
            onnx_op="",
            symbol="y_hat",
            equations=(
                "y_hat = z_L",
                "E = 1/(2B) sum_i ||y_hat_i - y_i||^2",
                "delta_L = (y_hat - y) / B",
            ),
        ),
    )
}
# The head when nothing names one: the tutorials' softmax with cross-entropy.
DEFAULT_HEAD = "softmax"


def get_head(name: str) -> Head:
    """Look a head up by name; an unknown name lists the known ones."""
    try:
        return HEADS[name]
    except KeyError:
        known = ", ".join(sorted(HEADS))
        raise ValueError(f"unknown head {name!r}; choose one of: {known}") from None


def head_for_task(task: str) -> Head:
    """The head declared for a task ("classification" or "regression")."""
    for head in HEADS.values():
        if head.task == task:
            return head
    known = ", ".join(sorted({h.task for h in HEADS.values()}))
    raise ValueError(f"unknown task {task!r}; choose one of: {known}")
