"""The identity head with squared error, in the core: against hand calculation, finite
differences and scikit-learn (MLPRegressor, r2_score and friends)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_diabetes
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
from sklearn.preprocessing import StandardScaler

from mlp import LBFGS, MLP, SGD, Checkpoint, fit, gradient_check, load_checkpoint, save_checkpoint
from mlp.evaluation import evaluate, regression_errors
from mlp.heads import HEADS, get_head, head_for_task


def diabetes():
    X, y = load_diabetes(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    y = (y - y.mean()) / y.std()
    return X, y[:, None]


def test_the_squared_error_and_its_delta_by_hand():
    # two rows, two outputs: E = 1/(2B) sum ||y_hat - y||^2, delta = (y_hat - y) / B
    outputs = np.array([[1.0, 2.0], [0.0, -1.0]])
    y = np.array([[0.0, 2.0], [2.0, 1.0]])
    loss, delta = HEADS["identity"].loss_and_delta(outputs.copy(), y)
    assert loss == pytest.approx((1 + 0 + 4 + 4) / (2 * 2))  # 2.25
    np.testing.assert_allclose(delta, [[0.5, 0.0], [-1.0, -1.0]])
    # weighted: E = sum w_i l_i / sum w_i with l = (0.5, 4), w = (3, 1)
    loss, delta = HEADS["identity"].loss_and_delta(outputs.copy(), y, np.array([3.0, 1.0]))
    assert loss == pytest.approx((3 * 0.5 + 1 * 4) / 4)
    np.testing.assert_allclose(delta, [[0.75, 0.0], [-0.5, -0.5]])


@pytest.mark.parametrize("weighted", [False, True])
def test_backprop_through_the_identity_head_equals_finite_differences(weighted):
    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(7, 4)), rng.normal(size=(7, 2))
    model = MLP([4, 5, 2], rng, head="identity")
    weights = rng.uniform(0.5, 2, size=7) if weighted else None
    checks = gradient_check(model, X, y, weight_decay=0.1, sample_weight=weights)
    assert max(c.max_rel_error for c in checks) < 1e-7


def test_sample_weights_weigh_a_regressions_rows():
    # a row weighted 2 counts as that row twice: the same first step as the row duplicated
    rng = np.random.default_rng(5)
    X, y = rng.normal(size=(4, 3)), rng.normal(size=(4, 2))
    weighted, doubled = (MLP([3, 4, 2], np.random.default_rng(6), head="identity") for _ in "ab")
    fit(weighted, SGD(lr=0.1, momentum=0.0), X, y, epochs=1, batch_size=4, rng=None, shuffle=False,
        sample_weight=np.array([2.0, 1.0, 1.0, 1.0]))  # fmt: skip
    fit(doubled, SGD(lr=0.1, momentum=0.0), np.vstack([X[:1], X]), np.vstack([y[:1], y]),
        epochs=1, batch_size=5, rng=None, shuffle=False)  # fmt: skip
    np.testing.assert_allclose(weighted.params, doubled.params, rtol=1e-12)


def test_sgd_reproduces_scikit_learns_mlp_regressor():
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPRegressor

    X, y = diabetes()
    model = MLP([10, 16, 1], np.random.default_rng(0), head="identity")
    theirs = MLPRegressor(  # squared error, its only loss before 1.7 and its default since
        hidden_layer_sizes=(16,),
        activation="logistic",
        solver="sgd",
        learning_rate_init=0.05,
        momentum=0.9,
        nesterovs_momentum=False,
        batch_size=32,
        shuffle=False,
        alpha=0.0,
        max_iter=1,
        tol=0.0,
        n_iter_no_change=10**6,
        warm_start=True,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        theirs.fit(X, y.ravel())  # sets up its arrays; the second fit starts from ours
        theirs.coefs_ = [W.copy() for W in model.weights]
        theirs.intercepts_ = [b.copy() for b in model.biases]
        theirs.max_iter = 8
        theirs.fit(X, y.ravel())
    reports = fit(
        model, SGD(lr=0.05, momentum=0.9), X, y, epochs=8, batch_size=32, rng=None, shuffle=False
    )
    for ours, sklearn_W in zip(model.weights + model.biases, theirs.coefs_ + theirs.intercepts_):
        np.testing.assert_allclose(ours, sklearn_W, rtol=0, atol=1e-10)
    # its loss_curve_ (after the set-up epoch) is 1/(2n) sum of squares over the epoch's
    # batches, as ours
    ours = [r.train_loss for r in reports]
    np.testing.assert_allclose(ours, theirs.loss_curve_[1:], rtol=1e-10)


def test_regression_errors_match_scikit_learn():
    rng = np.random.default_rng(1)
    y = rng.normal(size=(50, 2)) * [1.0, 30.0] + [0.0, 100.0]
    y_hat = y + rng.normal(size=y.shape)
    result = regression_errors(y, y_hat, reference=y[:30].mean(axis=0))
    for t in range(2):
        assert result.mse[t] == pytest.approx(mean_squared_error(y[:, t], y_hat[:, t]))
        assert result.mae[t] == pytest.approx(mean_absolute_error(y[:, t], y_hat[:, t]))
        assert result.r2[t] == pytest.approx(r2_score(y[:, t], y_hat[:, t]))
        baseline = np.full(50, y[:30, t].mean())
        assert result.baseline_r2[t] == pytest.approx(r2_score(y[:, t], baseline))
    assert result.rmse == pytest.approx(np.sqrt(result.mse))


def test_an_epochs_training_r2_is_that_of_the_model_it_reports_on():
    X, y = diabetes()
    model = MLP([10, 8, 1], np.random.default_rng(2), head="identity")
    reports = fit(model, LBFGS(), X, y, epochs=5, batch_size=1, rng=None, X_val=X, y_val=y)
    # L-BFGS's report is of the point it leaves: R^2 there, computed by scikit-learn
    assert reports[-1].scores["train_r2"] == pytest.approx(r2_score(y, model.logits(X)), abs=1e-9)
    assert reports[-1].scores["val_r2"] == pytest.approx(r2_score(y, model.logits(X)), abs=1e-12)
    assert set(reports[-1].scores) == {"train_r2", "val_r2"}


def test_evaluate_gives_a_regressions_errors_and_predict_its_values():
    X, y = diabetes()
    model = MLP([10, 4, 1], np.random.default_rng(0), head="identity")
    result = evaluate(model, X, y)
    outputs = model.logits(X)
    assert result.mse[0] == pytest.approx(mean_squared_error(y, outputs))
    assert result.loss == pytest.approx(0.5 * mean_squared_error(y, outputs))


def test_a_regression_checkpoint_keeps_its_head_and_target_scaling(tmp_path):
    model = MLP([3, 2, 2], np.random.default_rng(0), head="identity")
    mean, scale = np.array([10.0, -1.0]), np.array([2.0, 0.5])
    path = tmp_path / "m.npz"
    save_checkpoint(
        path, Checkpoint(model, np.array(["a", "b"]), target_mean=mean, target_scale=scale)
    )
    loaded = load_checkpoint(path)
    assert loaded.model.head.name == "identity"
    np.testing.assert_array_equal(loaded.model.params, model.params)
    np.testing.assert_array_equal(loaded.to_target_units(np.array([[1.0, 2.0]])), [[12.0, 0.0]])


def test_every_head_names_its_task_and_an_unknown_one_lists_them():
    assert {h.task for h in HEADS.values()} == {"classification", "regression"}
    for head in HEADS.values():
        assert head_for_task(head.task) is head
    with pytest.raises(ValueError, match="choose one of: identity, softmax"):
        get_head("tanh")


def test_each_heads_divergence_bound_is_a_multiple_of_knowing_nothing():
    y = np.array([[0.0], [2.0], [4.0]])  # variance 8/3: predicting the mean costs 4/3
    bound, _ = HEADS["identity"].loss_limit(y, 1)
    assert bound == pytest.approx(1e6 * 0.5 * 8 / 3)
    assert HEADS["identity"].loss_limit(np.ones((3, 1)), 1)[0] == np.inf  # nothing to scale by
    bound, why = HEADS["softmax"].loss_limit(np.array([0, 1, 2]), 3)
    assert bound == pytest.approx(10 * np.log(3)) and "log(3)" in why
