"""Minibatch training as an iterator of per-epoch reports; it never prints.

for report in train(model, optimizer, X, y, epochs=30, batch_size=32, rng=rng):
    ...  # show report.train_loss, save a checkpoint, stop early: the caller decides
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from mlp.evaluation import evaluate
from mlp.network import MLP, Workspace
from mlp.optimizers import Optimizer


class TrainingDiverged(FloatingPointError):
    """The loss or the weights became NaN or infinite; `epoch` and `batch` say where (1-based)."""

    def __init__(self, what: str, epoch: int, batch: int) -> None:
        super().__init__(f"{what} became non-finite at epoch {epoch}, batch {batch}")
        self.what, self.epoch, self.batch = what, epoch, batch


@dataclass(frozen=True)
class EpochReport:
    """What one epoch did. Losses are mean cross-entropy (the L2 penalty is not included).

    `train_loss` and `train_accuracy` average the batches as they were seen during the epoch,
    weighted by batch size (as scikit-learn and Keras report them); the validation figures are
    computed after the epoch's last update.
    """

    epoch: int
    train_loss: float
    train_accuracy: float
    val_loss: float | None
    val_accuracy: float | None
    lr: float
    seconds: float


def batch_slices(n_samples: int, batch_size: int) -> list[slice]:
    """Consecutive batches covering all samples; the last, smaller batch is kept."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    return [slice(i, min(i + batch_size, n_samples)) for i in range(0, n_samples, batch_size)]


def train(
    model: MLP,
    optimizer: Optimizer,
    X: np.ndarray,
    y: np.ndarray,
    *,
    epochs: int,
    batch_size: int,
    rng: np.random.Generator,
    shuffle: bool = True,
    weight_decay: float = 0.0,
    X_val: np.ndarray | None = None,
    y_val: np.ndarray | None = None,
    start_epoch: int = 1,
) -> Iterator[EpochReport]:
    """Train `model` in place, yielding an `EpochReport` after each epoch.

    Each epoch visits every sample once, in an order drawn from `rng` when `shuffle` is on and in
    the given order otherwise. Each batch's gradient is the mean over that batch, so the last,
    smaller batch is averaged over its own size. Raises `TrainingDiverged` as soon as a loss or a
    weight stops being finite, before the bad update is applied where that can be seen.
    `start_epoch` only numbers the reports (for continuing a run).
    """
    X = np.ascontiguousarray(X, dtype=model.dtype)
    y = np.asarray(y)
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"X has {X.shape[0]} rows but y has {y.shape[0]} labels")
    if X_val is not None:
        X_val = np.ascontiguousarray(X_val, dtype=model.dtype)
    batches = batch_slices(len(X), batch_size)
    # One workspace per batch size (the full one, and a smaller last one if any), made once.
    workspaces = {n: Workspace(model, n) for n in {b.stop - b.start for b in batches}}
    for epoch in range(start_epoch, start_epoch + epochs):
        started = time.perf_counter()
        if shuffle:
            order = rng.permutation(len(X))
            X_epoch, y_epoch = X[order], y[order]  # one copy per epoch; batches are then views
        else:
            X_epoch, y_epoch = X, y
        loss_sum = 0.0
        correct = 0
        # Overflow on the way to a non-finite loss is reported by TrainingDiverged below, so
        # NumPy's warnings about it would only be noise. (Not held across the yield.)
        with np.errstate(over="ignore", invalid="ignore"):
            for number, batch in enumerate(batches, start=1):
                X_batch, y_batch = X_epoch[batch], y_epoch[batch]
                ws = workspaces[len(y_batch)]
                loss, grad = model.cross_entropy_and_grad(X_batch, y_batch, weight_decay, ws)
                if not math.isfinite(loss):
                    raise TrainingDiverged("the loss", epoch, number)
                # v.v is finite only if every entry of v is (or if it overflows, |v| > 1e154,
                # which is divergence too): one BLAS call each, before and after the update.
                if not math.isfinite(grad @ grad):
                    raise TrainingDiverged("the gradient", epoch, number)
                optimizer.step(model.params, grad)
                if not math.isfinite(model.params @ model.params):
                    raise TrainingDiverged("a weight", epoch, number)
                loss_sum += loss * len(y_batch)
                correct += int(np.count_nonzero(ws.z[-1].argmax(axis=1) == y_batch))
        val_loss = val_accuracy = None
        if X_val is not None and y_val is not None:
            result = evaluate(model, X_val, y_val)
            val_loss, val_accuracy = result.loss, result.accuracy
        yield EpochReport(
            epoch=epoch,
            train_loss=loss_sum / len(X),
            train_accuracy=correct / len(X),
            val_loss=val_loss,
            val_accuracy=val_accuracy,
            lr=optimizer.lr,
            seconds=time.perf_counter() - started,
        )


def fit(
    model: MLP, optimizer: Optimizer, X: np.ndarray, y: np.ndarray, **kwargs
) -> list[EpochReport]:
    """Run `train` to the end and return every epoch's report."""
    return list(train(model, optimizer, X, y, **kwargs))
