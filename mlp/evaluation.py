"""Evaluating a trained network: for a classifier its loss, accuracy, predicted classes and
probabilities; for a regression its squared error, MAE and R^2 per output."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mlp.functions import cross_entropy, softmax
from mlp.heads import r2_scores, squared_error
from mlp.network import MLP

# Rows per forward pass: bounds the memory of evaluating a large set without slowing a small one.
CHUNK_ROWS = 8192


@dataclass(frozen=True)
class Evaluation:
    """The model's performance on one labelled set."""

    loss: float  # mean cross-entropy
    accuracy: float
    predictions: np.ndarray  # (n,) predicted class indices
    probabilities: np.ndarray  # (n, K) softmax outputs
    balanced_accuracy: float = float("nan")  # mean recall over the classes present
    macro_f1: float = float("nan")  # mean F1 over the classes present or predicted

    @property
    def n_samples(self) -> int:
        """How many samples were evaluated."""
        return len(self.predictions)

    def scores(self) -> dict[str, float]:
        """The figures a training report gives for a validation set, by name."""
        return {"accuracy": self.accuracy, "balanced_accuracy": self.balanced_accuracy}


@dataclass(frozen=True)
class RegressionEvaluation:
    """A regression's errors on one set, per output (arrays of T) and averaged over them.

    MSE = mean (y_hat - y)^2, RMSE its root, MAE = mean |y_hat - y|, and R^2 = 1 - SSE / SST
    (SST about the set's own mean); `baseline_r2` is the R^2 of always predicting a given
    reference (the training mean), NaN when none was given. In the units of the targets
    given: standardised, or the original ones when the caller undid the standardisation.
    """

    loss: float  # the head's objective 1/(2B) sum ||y_hat - y||^2
    mse: np.ndarray
    rmse: np.ndarray
    mae: np.ndarray
    r2: np.ndarray
    predictions: np.ndarray  # (n, T)
    baseline_r2: np.ndarray

    @property
    def n_samples(self) -> int:
        """How many samples were evaluated."""
        return len(self.predictions)

    def scores(self) -> dict[str, float]:
        """The figures a training report gives for a validation set, by name."""
        return {"r2": float(self.r2.mean())}


def regression_errors(
    y: np.ndarray, y_hat: np.ndarray, reference: np.ndarray | None = None
) -> RegressionEvaluation:
    """MSE, RMSE, MAE and R^2 of the predictions `y_hat` of targets `y` (both (n, T)), and
    the R^2 of predicting `reference` (e.g. the training mean) for every row."""
    y, y_hat = np.asarray(y, dtype=np.float64), np.asarray(y_hat, dtype=np.float64)
    if len(y) == 0:
        raise ValueError("cannot evaluate on an empty set")
    mse = ((y_hat - y) ** 2).mean(axis=0)
    baseline = np.full(y.shape[1], np.nan)
    if reference is not None:
        baseline = r2_scores(y, np.broadcast_to(reference, y.shape))
    return RegressionEvaluation(
        loss=squared_error(y_hat, y),
        mse=mse,
        rmse=np.sqrt(mse),
        mae=np.abs(y_hat - y).mean(axis=0),
        r2=r2_scores(y, y_hat),
        predictions=y_hat,
        baseline_r2=baseline,
    )


def predict_logits(model: MLP, X: np.ndarray) -> np.ndarray:
    """The logits for every row of X, computed in chunks of CHUNK_ROWS rows."""
    X = np.asarray(X, dtype=model.dtype)
    if X.ndim != 2 or X.shape[1] != model.layer_sizes[0]:
        raise ValueError(f"X must have shape (n, {model.layer_sizes[0]}), got {X.shape}")
    chunks = [model.logits(X[i : i + CHUNK_ROWS]) for i in range(0, len(X), CHUNK_ROWS)]
    return np.concatenate(chunks) if chunks else np.empty((0, model.layer_sizes[-1]), model.dtype)


def predict_proba(model: MLP, X: np.ndarray) -> np.ndarray:
    """Class probabilities p = softmax(z_L) for every row of X."""
    return softmax(predict_logits(model, X))


def predict(model: MLP, X: np.ndarray) -> np.ndarray:
    """For a classifier the most probable class index of every row of X; for a regression
    the (n, T) predicted values."""
    logits = predict_logits(model, X)
    if model.head.targets == "values":
        return model.head.output(logits)
    return logits.argmax(axis=1)


def confusion_matrix(y: np.ndarray, predictions: np.ndarray, n_classes: int) -> np.ndarray:
    """C[i, j]: how many samples of class i were predicted as class j (K x K, int64)."""
    cells = n_classes * np.asarray(y, dtype=np.int64) + np.asarray(predictions, dtype=np.int64)
    return np.bincount(cells, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


@dataclass(frozen=True)
class ClassScores:
    """Per class k: precision tp / predicted, recall tp / support, F1 = 2 tp / (support +
    predicted), and support; a ratio with a zero denominator is 0 (scikit-learn's
    `zero_division=0`)."""

    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    support: np.ndarray


def class_scores(matrix: np.ndarray) -> ClassScores:
    """Each class's precision, recall, F1 and support, from a confusion matrix."""
    true_positive = np.diag(matrix).astype(np.float64)
    support, predicted = matrix.sum(axis=1), matrix.sum(axis=0)

    def ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
        out = np.zeros_like(numerator)
        np.divide(numerator, denominator, out=out, where=denominator > 0)
        return out

    return ClassScores(
        precision=ratio(true_positive, predicted),
        recall=ratio(true_positive, support),
        f1=ratio(2 * true_positive, support + predicted),
        support=support,
    )


def per_class_recall(y: np.ndarray, predictions: np.ndarray, n_classes: int) -> np.ndarray:
    """Of each class present in `y`, the share of its samples predicted as it (NaN if absent)."""
    support = np.bincount(y, minlength=n_classes).astype(np.float64)
    hits = np.bincount(y[predictions == y], minlength=n_classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        return hits / support


def balanced_accuracy(y: np.ndarray, predictions: np.ndarray, n_classes: int) -> float:
    """The mean recall over the classes present in `y` (scikit-learn's balanced_accuracy_score):
    always predicting one class scores 1/K, whatever the class sizes."""
    recall = per_class_recall(np.asarray(y), np.asarray(predictions), n_classes)
    return float(np.nanmean(recall))


def macro_f1(y: np.ndarray, predictions: np.ndarray, n_classes: int) -> float:
    """The unweighted mean over the classes present in `y` or predicted of F1 = 2 tp /
    (2 tp + fp + fn), as scikit-learn's f1_score(average="macro") (a class never predicted
    scores 0)."""
    y, predictions = np.asarray(y), np.asarray(predictions)
    true_positive = np.bincount(y[predictions == y], minlength=n_classes)
    actual = np.bincount(y, minlength=n_classes)
    predicted = np.bincount(predictions, minlength=n_classes)
    present = (actual + predicted) > 0
    f1 = 2 * true_positive[present] / (actual[present] + predicted[present])
    return float(f1.mean())


def evaluate(model: MLP, X: np.ndarray, y: np.ndarray) -> Evaluation | RegressionEvaluation:
    """A classifier's mean cross-entropy, accuracy, predictions and probabilities on (X, y);
    a regression's errors on (X, y) (in the units of y)."""
    y = np.asarray(y)
    if len(y) == 0:
        raise ValueError("cannot evaluate on an empty set")
    logits = predict_logits(model, X)
    if len(logits) != len(y):
        raise ValueError(f"X has {len(logits)} rows but y has {len(y)} targets")
    if model.head.targets == "values":
        return regression_errors(y, model.head.output(logits))
    predictions = logits.argmax(axis=1)
    n_classes = model.layer_sizes[-1]
    return Evaluation(
        loss=cross_entropy(logits, y),
        accuracy=float((predictions == y).mean()),
        predictions=predictions,
        probabilities=softmax(logits),
        balanced_accuracy=balanced_accuracy(y, predictions, n_classes),
        macro_f1=macro_f1(y, predictions, n_classes),
    )
