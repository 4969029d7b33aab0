"""Class weights in the core: the weighted objective, its gradient, the trainer's reports, and
the imbalance metrics.

The objective is checked against PyTorch's CrossEntropyLoss(weight=w) formula written out
here in NumPy (sum_i w_{y_i} l_i / sum_i w_{y_i}), the gradient against centred differences,
the balanced weights and the metrics against scikit-learn.
"""

import numpy as np
import pytest

from mlp import MLP, SGD, Trainer, gradient_check
from mlp.evaluation import balanced_accuracy, macro_f1
from mlp.functions import softmax_cross_entropy
from mlp.training import balanced_class_weights


def problem(n=9, d=3, k=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.integers(0, k, n), rng


def torch_weighted_cross_entropy(logits, y, class_weight):
    """PyTorch's documented reduction='mean' with weight=: sum_i w_{y_i} (-log p_{i, y_i})
    divided by sum_i w_{y_i}, with log p from log-sum-exp."""
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    w = class_weight[y]
    return float(-(w * log_p[np.arange(len(y)), y]).sum() / w.sum())


def test_the_weighted_objective_is_pytorchs_weighted_mean():
    _, y, rng = problem()
    logits = rng.normal(size=(9, 3)) * 3
    class_weight = np.array([0.5, 2.0, 7.0])
    loss, _ = softmax_cross_entropy(logits, y, class_weight[y])
    assert loss == pytest.approx(torch_weighted_cross_entropy(logits, y, class_weight), rel=1e-12)


def test_equal_weights_give_the_unweighted_loss_and_gradient():
    _, y, rng = problem()
    logits = rng.normal(size=(9, 3))
    plain = softmax_cross_entropy(logits, y)
    weighted = softmax_cross_entropy(logits, y, np.full(9, 3.0))
    assert weighted[0] == pytest.approx(plain[0], rel=1e-12)
    np.testing.assert_allclose(weighted[1], plain[1], rtol=1e-12)


def test_the_weighted_gradient_matches_centred_differences():
    X, y, rng = problem(n=12)
    model = MLP([3, 5, 3], rng, activation="tanh")
    weights = np.array([0.2, 1.0, 4.0])[y]
    for check in gradient_check(model, X, y, weight_decay=0.01, sample_weight=weights):
        assert check.max_rel_error < 1e-7, check


def test_a_wrong_weighting_fails_the_check():
    """The check really looks at the weights: an unweighted gradient does not pass it."""
    X, y, rng = problem(n=12)
    model = MLP([3, 4, 3], rng)
    weights = np.array([0.2, 1.0, 4.0])[y]
    _, weighted = model.loss_and_grad(X, y, 0.0, weights)
    _, unweighted = model.loss_and_grad(X, y)
    assert np.abs(weighted - unweighted).max() > 1e-3


def test_balanced_weights_are_scikit_learns():
    from sklearn.utils.class_weight import compute_class_weight

    y = np.array([0] * 19 + [1] * 1 + [2] * 5)
    expected = compute_class_weight("balanced", classes=np.arange(3), y=y)
    np.testing.assert_allclose(balanced_class_weights(y, 3), expected, rtol=1e-15)


def test_the_trainer_minimises_the_weighted_objective_and_reports_the_unweighted_loss():
    X, y, _ = problem(n=10)
    weights = np.array([1.0, 3.0, 0.5])[y]
    model = MLP([3, 4, 3], np.random.default_rng(1))
    start = model.params.copy()
    trainer = Trainer(
        model, SGD(lr=0.1, momentum=0.0), X, y, batch_size=10, rng=None, shuffle=False,
        sample_weight=weights,
    )  # fmt: skip
    [report] = list(trainer.run(1))
    # one full-batch step of plain SGD: params - lr * gradient of the weighted objective
    reference = MLP([3, 4, 3], np.random.default_rng(1))
    reference.params[:] = start
    _, grad = reference.loss_and_grad(X, y, 0.0, weights)
    np.testing.assert_allclose(model.params, start - 0.1 * grad, rtol=1e-12)
    reference.params[:] = start
    assert report.train_loss == pytest.approx(reference.loss(X, y), rel=1e-12)  # unweighted


def test_balanced_accuracy_and_macro_f1_are_scikit_learns():
    from sklearn.metrics import balanced_accuracy_score, f1_score

    rng = np.random.default_rng(4)
    y = rng.integers(0, 4, 50)
    predictions = np.where(rng.random(50) < 0.6, y, rng.integers(0, 4, 50))
    predictions[predictions == 3] = 0  # a class never predicted: its F1 is 0
    assert balanced_accuracy(y, predictions, 4) == pytest.approx(
        balanced_accuracy_score(y, predictions)
    )
    assert macro_f1(y, predictions, 4) == pytest.approx(
        f1_score(y, predictions, average="macro", zero_division=0)
    )
