"""Minibatch training as an iterator of per-epoch reports; it never prints.

for report in train(model, optimizer, X, y, epochs=30, batch_size=32, rng=rng):
    ...  # show report.train_loss, save a checkpoint, stop early: the caller decides
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from mlp.diagnostics import UpdateRatios, measure, probe_rows, ratio_steps
from mlp.evaluation import evaluate
from mlp.network import MLP
from mlp.optimizers import Optimizer


class TrainingDiverged(FloatingPointError):
    """The loss or the weights became NaN or infinite; `epoch` and `batch` say where (1-based)."""

    def __init__(self, what: str, epoch: int, batch: int) -> None:
        super().__init__(f"{what} became non-finite at epoch {epoch}, batch {batch}")
        self.what, self.epoch, self.batch = what, epoch, batch


@dataclass(frozen=True)
class EpochReport:
    """What one epoch did. Losses are the head's mean loss (the L2 penalty is not included).

    `scores` holds the head's figures under the names metrics.jsonl gives them: for the
    softmax head `train_accuracy`, `val_accuracy` and `val_balanced_accuracy`; for the
    identity head `train_r2` and `val_r2` (validation figures are None without a validation
    set). The training figures average the batches as they were seen during the epoch,
    weighted by batch size (as scikit-learn and Keras report them); the validation figures
    are computed after the epoch's last update.
    """

    epoch: int
    train_loss: float
    val_loss: float | None
    lr: float
    seconds: float
    scores: dict[str, float | None] = field(default_factory=dict)
    # per layer, after the epoch's last step (mlp/diagnostics.py); None when not measured
    diagnostics: list[dict] | None = None

    def metric(self, name: str) -> float | None:
        """A figure by its metrics.jsonl name: `train_loss`, `val_loss` or one of `scores`."""
        if name in ("train_loss", "val_loss"):
            return getattr(self, name)
        return self.scores.get(name)

    @property
    def train_accuracy(self) -> float | None:
        """The share of training rows classified right (None for a regression)."""
        return self.scores.get("train_accuracy")

    @property
    def val_accuracy(self) -> float | None:
        """The validation accuracy (None without a validation set or for a regression)."""
        return self.scores.get("val_accuracy")

    @property
    def val_balanced_accuracy(self) -> float | None:
        """Mean recall over the classes of the validation set (see evaluation)."""
        return self.scores.get("val_balanced_accuracy")

    def record(self) -> dict:
        """The report as one flat JSON-able dict (a line of metrics.jsonl)."""
        return {
            "epoch": self.epoch,
            "train_loss": self.train_loss,
            "val_loss": self.val_loss,
            **self.scores,
            "lr": self.lr,
            "seconds": self.seconds,
            **({} if self.diagnostics is None else {"diagnostics": self.diagnostics}),
        }

    @classmethod
    def from_record(cls, record: dict) -> EpochReport:
        """The report a `record()` describes (unknown keys become scores)."""
        fixed = ("epoch", "train_loss", "val_loss", "lr", "seconds")
        scores = {k: v for k, v in record.items() if k not in (*fixed, "diagnostics")}
        values = {k: record.get(k) for k in fixed}
        return cls(**values, scores=scores, diagnostics=record.get("diagnostics"))


def balanced_class_weights(y: np.ndarray, n_classes: int) -> np.ndarray:
    """Class k's weight n / (K n_k), scikit-learn's class_weight="balanced": every class then
    carries the same total weight n / K. A class with no sample gets weight 0."""
    counts = np.bincount(np.asarray(y), minlength=n_classes).astype(np.float64)
    with np.errstate(divide="ignore"):
        return np.where(counts > 0, len(y) / (n_classes * counts), 0.0)


def batch_slices(n_samples: int, batch_size: int) -> list[slice]:
    """Consecutive batches covering all samples; the last, smaller batch is kept."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    return [slice(i, min(i + batch_size, n_samples)) for i in range(0, n_samples, batch_size)]


class TrainingStopped(Exception):
    """`Trainer.request_stop` was honoured: the current batch finished and training paused.

    The trainer's `state_dict` then describes exactly this point, so a new trainer loaded from
    it continues as if nothing had happened.
    """

    def __init__(self, epoch: int, batch: int) -> None:
        super().__init__(f"stopped after batch {batch} of epoch {epoch}")
        self.epoch, self.batch = epoch, batch


class Trainer:
    """Training of `model` in place, resumable at any batch boundary.

    Each epoch visits every sample once, in an order drawn from `rng` when `shuffle` is on and
    in the given order otherwise. Each batch's gradient is the mean over that batch, so the
    last, smaller batch is averaged over its own size. A full-batch optimizer (L-BFGS) instead
    takes one iteration per epoch over the whole set, batch size and shuffling aside, and the
    run ends early once it has converged. A loss, gradient or weight that stops being finite
    raises `TrainingDiverged` naming the epoch and batch.
    """

    def __init__(
        self,
        model: MLP,
        optimizer: Optimizer,
        X: np.ndarray,
        y: np.ndarray,
        *,
        batch_size: int,
        rng: np.random.Generator | None,
        shuffle: bool = True,
        weight_decay: float = 0.0,
        X_val: np.ndarray | None = None,
        y_val: np.ndarray | None = None,
        lr_schedule: Callable[[int], float] | None = None,
        sample_weight: np.ndarray | None = None,
        diagnostics: bool = False,
    ) -> None:
        """Set up training; nothing runs until `run` is iterated.

        `lr_schedule(epoch)`, if given, sets the optimizer's learning rate for each epoch.
        `sample_weight` (one per row, > 0; e.g. its class's weight) makes each batch's
        objective the weighted mean sum w_i l_i / sum w_i; the reported losses stay unweighted.
        `diagnostics`: measure each layer after every epoch (mlp/diagnostics.py) into the
        report; it changes no number of the training.
        """
        self.model, self.optimizer = model, optimizer
        self.X = np.ascontiguousarray(X, dtype=model.dtype)
        head = self.head = model.head
        self.y = np.asarray(y, dtype=head.target_dtype(model.dtype))
        if self.X.shape[0] != self.y.shape[0]:
            raise ValueError(
                f"X has {self.X.shape[0]} rows but y has {self.y.shape[0]} {head.target_noun}"
            )
        head.check_targets(self.y, model.layer_sizes[-1])
        self.sample_weight = None
        if sample_weight is not None:
            self.sample_weight = np.asarray(sample_weight, dtype=model.dtype)
            rows = (len(self.y),)  # one per row, whatever the targets' shape
            if self.sample_weight.shape != rows or not np.all(self.sample_weight >= 0):
                raise ValueError("sample_weight needs one weight >= 0 per training row")
        if y_val is not None:
            y_val = np.asarray(y_val)
            head.check_targets(y_val, model.layer_sizes[-1], f"validation {head.target_noun}")
        if optimizer.full_batch:
            if lr_schedule is not None:
                raise ValueError(f"{optimizer.name} chooses its own step: no lr schedule")
            batch_size, shuffle = max(len(self.X), 1), False  # one batch: the whole set
        if shuffle and rng is None:
            raise ValueError("shuffling needs an rng")
        self.rng, self.shuffle, self.weight_decay = rng, shuffle, weight_decay
        self.X_val = None if X_val is None else np.ascontiguousarray(X_val, dtype=model.dtype)
        self.y_val = y_val
        self.lr_schedule = lr_schedule
        self.batches = batch_slices(len(self.X), batch_size)
        optimizer.bind(model.weight_mask)
        # A shuffled batch is gathered into one of these (one per batch size), not copied out
        # of the whole set each epoch: memory stays at the data's size however large it is.
        sizes = {b.stop - b.start for b in self.batches} if shuffle else set()
        self.gathered = {n: np.empty((n, self.X.shape[1]), model.dtype) for n in sizes}
        # Where training stands: whole epochs done, and the epoch in progress, if any.
        self.epochs_done = 0
        self.batches_done = 0
        self._set_order(None)
        self.loss_sum = 0.0
        self.tally = self._no_tally()
        self.seconds = 0.0
        self.update_ratios = UpdateRatios(model) if diagnostics else None
        self.ratio_steps = ratio_steps(len(self.batches))
        probe = probe_rows(len(self.X)) if diagnostics else np.empty(0, np.int64)
        self.probe = (self.X[probe], self.y[probe])
        self._stop = False
        # Called after every step with the seconds the step took (its forward and backward
        # passes and its update; not the validation pass): `mlp train --threads auto` times
        # the thread counts on the training's own steps through it.
        self.after_step: Callable[[float], None] | None = None

    def _no_tally(self) -> int | np.ndarray:
        """The head's per-batch sums for the score (hits, or squared residuals), all zero."""
        return 0 * self.head.tally(np.zeros((0, self.model.layer_sizes[-1])), self.y[:0])

    def request_stop(self) -> None:
        """Ask `run` to stop after the batch in progress (safe to call from a signal handler)."""
        self._stop = True

    def run(self, epochs: int) -> Iterator[EpochReport]:
        """Train until `epochs` epochs are done in all (or a full-batch optimizer has
        converged), yielding a report after each one."""
        while self.epochs_done < epochs and not self.optimizer.converged:
            yield self._finish_epoch()

    def _batch(self, number: int) -> tuple[np.ndarray, np.ndarray]:
        """Batch `number` (1-based) of the epoch in progress: views in file order, or gathered."""
        batch = self.batches[number - 1]
        if self.order is None:
            return self.X[batch], self.y[batch]
        X_batch = self.gathered[batch.stop - batch.start]
        # mode="clip": the order is a permutation (drawn here, or checked by load_state_dict),
        # so no index needs checking, and the default mode="raise" gathers into a temporary
        # copy of `out` first: 105 against 78 us for 128 MNIST-sized rows, measured here.
        rows = self.order[batch]
        return np.take(self.X, rows, axis=0, out=X_batch, mode="clip"), self.y_ordered[batch]

    def _batch_weights(self, number: int) -> np.ndarray | None:
        """The sample weights of batch `number`, in the order `_batch` gives its rows."""
        if self.sample_weight is None:
            return None
        weights = self.sample_weight if self.order is None else self.w_ordered
        return weights[self.batches[number - 1]]

    def _set_order(self, order: np.ndarray | None) -> None:
        """The epoch's order of the samples; the labels are put in that order at once (a
        copy the size of one column, where the rows are gathered batch by batch)."""
        self.order = order
        self.y_ordered = None if order is None else self.y[order]
        weights = self.sample_weight
        self.w_ordered = None if order is None or weights is None else weights[order]

    def _minibatch_step(self, epoch: int, number: int) -> None:
        """One gradient step on batch `number`; its loss and score go into the epoch's sums."""
        model, X_batch, y_batch = self.model, *self._batch(number)
        weights = self._batch_weights(number)
        zs, activations = model.forward(X_batch)
        loss, grad = model.backward(zs, activations, y_batch, self.weight_decay, weights)
        if weights is not None:  # reported unweighted, so that runs with and without compare
            loss = self.head.loss(zs[-1], y_batch)
        if not math.isfinite(loss):
            raise TrainingDiverged("the loss", epoch, number)
        # v.v is finite only if every entry of v is, and below 1e154 in size: one BLAS call
        # each, before and after the update (~30 us each of a 1.8 ms MNIST-sized step,
        # benchmarks/step_profile.py). The test before it cannot be left to the one after: a
        # finite gradient entry above 1e154 makes Adam's v infinite and its step 0, so the
        # weight freezes while its p.p stays finite; and it leaves the model and the optimizer
        # as they were before the bad step.
        if not math.isfinite(grad @ grad):
            raise TrainingDiverged("the gradient", epoch, number)
        measured = self.update_ratios is not None and number in self.ratio_steps
        if measured:
            self.update_ratios.start_step()
        self.optimizer.step(model.params, grad)
        if measured:
            self.update_ratios.end_step()
        if not math.isfinite(model.params @ model.params):
            raise TrainingDiverged("a weight", epoch, number)
        self.loss_sum += loss * len(y_batch)
        self.tally += self.head.tally(zs[-1], y_batch)

    def _full_batch_step(self, epoch: int) -> None:
        """One iteration of a full-batch optimizer; the loss and score are those at its end."""
        model, X, y, weight_decay = self.model, self.X, self.y, self.weight_decay
        last = {}

        weights = self.sample_weight

        def objective() -> tuple[float, np.ndarray]:  # at the point now in model.params
            zs, activations = model.forward(X)
            loss, grad = model.backward(zs, activations, y, weight_decay, weights)
            unweighted = loss if weights is None else model.head.loss(zs[-1], y)
            last["loss"], last["logits"] = unweighted, zs[-1]
            return loss + model.penalty(weight_decay), grad

        # (no update ratio: a line search chooses the step, so "too high a learning rate" has
        # no meaning; the diagnostics record null for it)
        self.optimizer.iterate(model.params, objective)
        if not math.isfinite(model.params @ model.params):
            raise TrainingDiverged("a weight", epoch, 1)
        if last:  # the optimizer evaluates last at the point it leaves (none once converged)
            if not math.isfinite(last["loss"]):
                raise TrainingDiverged("the loss", epoch, 1)
            self.loss_sum = last["loss"] * len(y)
            self.tally = self.head.tally(last["logits"], y)

    def _finish_epoch(self) -> EpochReport:
        epoch = self.epochs_done + 1
        started = time.perf_counter()
        if self.shuffle and self.order is None:  # a resumed epoch keeps the order it had
            self._set_order(self.rng.permutation(len(self.X)))
        if self.lr_schedule is not None:
            self.optimizer.lr = self.lr_schedule(epoch)
        try:
            # Overflow on the way to a non-finite loss is reported by TrainingDiverged, so
            # NumPy's warnings about it would only be noise.
            with np.errstate(over="ignore", invalid="ignore"):
                for number in range(self.batches_done + 1, len(self.batches) + 1):
                    if self._stop:
                        self._stop = False
                        raise TrainingStopped(epoch, number - 1)
                    step_started = time.perf_counter()
                    if self.optimizer.full_batch:
                        self._full_batch_step(epoch)
                    else:
                        self._minibatch_step(epoch, number)
                    self.batches_done = number
                    if self.after_step is not None:
                        self.after_step(time.perf_counter() - step_started)
        finally:
            self.seconds += time.perf_counter() - started
        val_started = time.perf_counter()
        scores = {
            f"train_{k}": v for k, v in self.head.score_from_tally(self.tally, self.y).items()
        }
        val_loss = None
        if self.X_val is not None and self.y_val is not None:
            result = evaluate(self.model, self.X_val, self.y_val)
            val_loss = result.loss
            scores.update({f"val_{k}": v for k, v in result.scores().items()})
        else:
            scores.update({f"val_{k}": None for k in self.head.val_scores})
        layers = None
        if self.update_ratios is not None:
            layers = measure(self.model, *self.probe, self.update_ratios.medians())
        self.seconds += time.perf_counter() - val_started
        report = EpochReport(
            epoch=epoch,
            train_loss=self.loss_sum / len(self.X),
            val_loss=val_loss,
            lr=self.optimizer.lr,
            seconds=self.seconds,
            scores=scores,
            diagnostics=layers,
        )
        self.epochs_done, self.batches_done = epoch, 0
        self._set_order(None)
        self.loss_sum, self.tally, self.seconds = 0.0, self._no_tally(), 0.0
        return report

    def state_dict(self) -> dict:
        """Where training stands, including the generator's state: enough to resume exactly."""
        return {
            "epochs_done": self.epochs_done,
            "batches_done": self.batches_done,
            "order": None if self.order is None else self.order.copy(),
            "loss_sum": self.loss_sum,
            "tally": np.asarray(self.tally).tolist(),
            # the epoch's update ratios so far, so that a resumed epoch's median is the same
            "update_ratios": None if self.update_ratios is None else self.update_ratios.ratios,
            "seconds": self.seconds,
            "rng": None if self.rng is None else self.rng.bit_generator.state,
        }

    def load_state_dict(self, state: dict) -> None:
        """Continue from a `state_dict` taken from a trainer over the same data and settings."""
        self.epochs_done = int(state["epochs_done"])
        self.batches_done = int(state["batches_done"])
        order = None if state["order"] is None else np.asarray(state["order"])
        if order is not None and not _is_permutation(order, len(self.X)):
            raise ValueError("the saved epoch order does not match the training data")
        self._set_order(order)
        self.loss_sum = float(state["loss_sum"])
        # "correct": a classifier's hits, as states saved before the heads recorded them
        tally = np.asarray(state["tally"] if "tally" in state else state["correct"])
        zero = self._no_tally()
        if tally.shape != np.shape(zero) or tally.dtype.kind not in "iuf":
            raise ValueError("the saved epoch's running score does not match this model")
        self.tally = tally.astype(np.float64) if isinstance(zero, np.ndarray) else int(tally)
        ratios = state.get("update_ratios")
        if self.update_ratios is not None and ratios is not None:
            self.update_ratios.ratios = [[float(r) for r in step] for step in ratios]
        self.seconds = float(state["seconds"])
        if state["rng"] is not None and self.rng is not None:
            self.rng.bit_generator.state = state["rng"]


def _is_permutation(order: np.ndarray, n: int) -> bool:
    """True when `order` is a vector of integers holding each of 0, ..., n - 1 exactly once."""
    if order.shape != (n,) or order.dtype.kind not in "iu":
        return False
    if n and (order.min() < 0 or order.max() >= n):
        return False
    seen = np.zeros(n, dtype=bool)
    seen[order] = True
    return bool(seen.all())


def train(
    model: MLP,
    optimizer: Optimizer,
    X: np.ndarray,
    y: np.ndarray,
    *,
    epochs: int,
    batch_size: int,
    rng: np.random.Generator | None,
    shuffle: bool = True,
    weight_decay: float = 0.0,
    X_val: np.ndarray | None = None,
    y_val: np.ndarray | None = None,
    lr_schedule: Callable[[int], float] | None = None,
    sample_weight: np.ndarray | None = None,
    diagnostics: bool = False,
) -> Iterator[EpochReport]:
    """Train `model` in place for `epochs` epochs, yielding an `EpochReport` after each.

    The one-call form of `Trainer(...).run(epochs)`; see `Trainer` for the details.
    """
    trainer = Trainer(
        model,
        optimizer,
        X,
        y,
        batch_size=batch_size,
        rng=rng,
        shuffle=shuffle,
        weight_decay=weight_decay,
        X_val=X_val,
        y_val=y_val,
        lr_schedule=lr_schedule,
        sample_weight=sample_weight,
        diagnostics=diagnostics,
    )
    return trainer.run(epochs)


def fit(
    model: MLP, optimizer: Optimizer, X: np.ndarray, y: np.ndarray, **kwargs
) -> list[EpochReport]:
    """Run `train` to the end and return every epoch's report."""
    return list(train(model, optimizer, X, y, **kwargs))
