"""Minibatch training: batching, reproducibility, divergence, and learning for real."""

import numpy as np
import pytest
from sklearn.datasets import load_digits, load_iris
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from mlp import MLP, SGD, Adam, TrainingDiverged, evaluate, fit, train
from mlp.checkpoint import TrainingState, load_training_state, save_training_state
from mlp.optimizers import LBFGS, AdamW, RMSprop
from mlp.training import Trainer, TrainingStopped, batch_slices


def toy(n=10, d=3, k=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.integers(0, k, size=n)


def test_batches_cover_every_sample_once_and_keep_the_smaller_last_batch():
    assert batch_slices(5, 2) == [slice(0, 2), slice(2, 4), slice(4, 5)]
    assert batch_slices(4, 10) == [slice(0, 4)]


def test_unshuffled_epoch_equals_manual_steps_in_file_order_with_the_last_batch_averaged_alone():
    X, y = toy(n=5)
    model = MLP([3, 4, 3], np.random.default_rng(0))
    manual = model.copy()
    fit(model, SGD(lr=0.3, momentum=0.0), X, y, epochs=1, batch_size=2, shuffle=False, rng=None)
    for rows in ([0, 1], [2, 3], [4]):
        _, grad = manual.loss_and_grad(X[rows], y[rows])
        manual.params -= 0.3 * grad
    assert np.array_equal(model.params, manual.params)


def test_shuffled_epoch_visits_batches_in_the_order_the_generator_draws():
    X, y = toy(n=7)
    model = MLP([3, 4, 3], np.random.default_rng(0))
    manual = model.copy()
    fit(
        model, SGD(lr=0.3, momentum=0.0), X, y, epochs=1, batch_size=3, rng=np.random.default_rng(9)
    )
    order = np.random.default_rng(9).permutation(7)
    for start in range(0, 7, 3):
        rows = order[start : start + 3]
        _, grad = manual.loss_and_grad(X[rows], y[rows])
        manual.params -= 0.3 * grad
    assert np.array_equal(model.params, manual.params)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("make", [lambda: SGD(0.1, 0.9), lambda: Adam(0.01)])
def test_same_seed_gives_bit_identical_weights(dtype, make):
    X, y = toy(n=50, d=4)

    def run(seed):
        rng = np.random.default_rng(seed)
        model = MLP([4, 8, 3], rng, dtype=dtype)
        fit(model, make(), X, y, epochs=3, batch_size=8, rng=rng)
        return model.params

    assert np.array_equal(run(1), run(1))
    assert not np.array_equal(run(1), run(2))


def test_reports_one_per_epoch_with_validation_figures():
    X, y = toy(n=30)
    model = MLP([3, 5, 3], np.random.default_rng(0))
    reports = fit(
        model,
        SGD(0.1),
        X,
        y,
        epochs=4,
        batch_size=8,
        rng=np.random.default_rng(0),
        X_val=X[:10],
        y_val=y[:10],
    )
    assert [r.epoch for r in reports] == [1, 2, 3, 4]
    last = reports[-1]
    assert last.val_loss == pytest.approx(evaluate(model, X[:10], y[:10]).loss)
    assert 0 <= last.train_accuracy <= 1 and last.lr == 0.1 and last.seconds >= 0
    no_val = fit(model, SGD(0.1), X, y, epochs=1, batch_size=8, rng=np.random.default_rng(0))
    assert no_val[0].val_loss is None and no_val[0].val_accuracy is None


def test_training_loss_is_the_batch_size_weighted_mean_of_batch_losses():
    X, y = toy(n=5)
    model = MLP([3, 4, 3], np.random.default_rng(0))
    manual = model.copy()
    [report] = fit(
        model, SGD(lr=0.3, momentum=0.0), X, y, epochs=1, batch_size=2, shuffle=False, rng=None
    )
    total = 0.0
    for rows in ([0, 1], [2, 3], [4]):
        loss, grad = manual.loss_and_grad(X[rows], y[rows])
        total += loss * len(rows)
        manual.params -= 0.3 * grad
    assert report.train_loss == pytest.approx(total / 5, rel=1e-14)


def test_a_diverging_learning_rate_raises_naming_epoch_and_batch():
    X, y = toy(n=40)
    model = MLP([3, 5, 3], np.random.default_rng(0))
    with pytest.raises(TrainingDiverged) as info:
        fit(model, SGD(lr=1e308), X, y, epochs=5, batch_size=8, rng=np.random.default_rng(0))
    assert info.value.epoch >= 1 and info.value.batch >= 1
    assert f"epoch {info.value.epoch}, batch {info.value.batch}" in str(info.value)


def test_a_non_finite_gradient_is_named_with_its_epoch_and_batch():
    # Row 19 holds an infinite input, so batch 3 (rows 16-23, in file order) is the first whose
    # gradient dE/dW1 = X^T delta_1 is not finite; its loss stays finite (sigmoid saturates).
    X, y = toy(n=40)
    X[19, 0] = np.inf
    model = MLP([3, 4, 3], np.random.default_rng(0))
    with pytest.raises(TrainingDiverged) as info:
        fit(model, SGD(0.1), X, y, epochs=2, batch_size=8, shuffle=False, rng=None)
    assert (info.value.what, info.value.epoch, info.value.batch) == ("the gradient", 1, 3)


@pytest.mark.parametrize("bad", [3, -1])
def test_labels_outside_the_classes_are_refused_before_training(bad):
    X, y = toy(n=6)
    y[4] = bad  # the network below has 3 classes: 0, 1 and 2
    model = MLP([3, 4, 3], np.random.default_rng(0))
    with pytest.raises(ValueError, match="class indices 0 to 2"):
        Trainer(model, SGD(0.1), X, y, batch_size=2, rng=None, shuffle=False)
    with pytest.raises(ValueError, match="validation labels must be class indices 0 to 2"):
        Trainer(model, SGD(0.1), X, y % 3, batch_size=2, rng=None, shuffle=False, X_val=X, y_val=y)
    with pytest.raises(ValueError, match="class indices 0 to 2"):
        model.loss_and_grad(X, y)


def test_a_finite_gradient_too_large_to_square_stops_adam_before_it_freezes_a_weight():
    # Inputs of 1e160 give finite gradient entries above 1e154: Adam's v would become
    # infinite and its step 0, freezing the weight while every weight stays finite. The test
    # before the update names the gradient, and leaves the model and optimizer untouched.
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(24, 6)), rng.integers(0, 3, 24)
    X[:, 0] *= 1e160
    model = MLP([6, 7, 3], np.random.default_rng(1), activation="relu")
    before = model.params.copy()
    optimizer = Adam(0.01)
    with pytest.raises(TrainingDiverged) as info:
        fit(model, optimizer, X, y, epochs=2, batch_size=8, shuffle=False, rng=None)
    assert (info.value.what, info.value.epoch, info.value.batch) == ("the gradient", 1, 1)
    assert np.array_equal(model.params, before) and optimizer.m is None


def test_labels_must_be_a_vector():
    X, y = toy(n=6)
    model = MLP([3, 4, 3], np.random.default_rng(0))
    onehot = np.eye(3, dtype=int)[y]  # values 0 and 1, all "in range", but not indices
    with pytest.raises(ValueError, match=r"vector of class indices, got shape \(6, 3\)"):
        Trainer(model, SGD(0.1), X, onehot, batch_size=2, rng=None, shuffle=False)


def test_a_saved_order_that_is_not_a_permutation_is_refused():
    X, y = toy(n=6)
    rng = np.random.default_rng(0)
    trainer = Trainer(MLP([3, 4, 3], rng), SGD(0.1), X, y, batch_size=2, rng=rng)
    state = trainer.state_dict()
    bad_orders = (
        [0, 1, 2, 3, 4, 4],
        [0, 1, 2, 3, 4, 6],
        [-1, 1, 2, 3, 4, 5],
        [[0, 1, 2], [3, 4, 5]],
        [0.0, 1.0, 2.0, 3.0, 4.0, 5.0],
        3,
    )
    for bad in bad_orders:
        with pytest.raises(ValueError, match="order does not match"):
            trainer.load_state_dict({**state, "order": np.array(bad)})


def test_huge_but_finite_inputs_only_saturate_and_train_on():
    X, y = toy(n=20)
    model = MLP([3, 5, 3], np.random.default_rng(0))
    reports = fit(model, SGD(0.1), X * 1e6, y, epochs=2, batch_size=5, rng=np.random.default_rng(0))
    assert np.isfinite(reports[-1].train_loss) and np.isfinite(model.params).all()


def standardised_split(loader):
    X, y = loader(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.2, stratify=y, random_state=0
    )
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), y_train, scaler.transform(X_test), y_test


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_learns_iris_to_at_least_95_percent(dtype):
    X_train, y_train, X_test, y_test = standardised_split(load_iris)
    rng = np.random.default_rng(0)
    model = MLP([4, 16, 3], rng, dtype=dtype)
    fit(model, SGD(0.1, 0.9), X_train, y_train, epochs=60, batch_size=16, rng=rng)
    assert evaluate(model, X_test, y_test).accuracy >= 0.95


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_learns_digits_to_at_least_97_percent(dtype):
    X_train, y_train, X_test, y_test = standardised_split(load_digits)
    rng = np.random.default_rng(0)
    model = MLP([64, 128, 10], rng, dtype=dtype)
    fit(model, Adam(0.005), X_train, y_train, epochs=20, batch_size=32, rng=rng)
    assert model.params.dtype == np.dtype(dtype)
    assert evaluate(model, X_test, y_test).accuracy >= 0.97


@pytest.mark.parametrize(
    "make",
    [
        lambda: SGD(0.1, 0.9, nesterov=True),
        lambda: Adam(0.01),
        lambda: AdamW(0.01, weight_decay=0.1),
        lambda: RMSprop(0.01, momentum=0.5),
    ],
)
@pytest.mark.parametrize("stop_after", [1, 4, 7])  # mid-epoch, and on an epoch boundary (7)
def test_a_stopped_and_resumed_run_ends_bit_identical_to_an_uninterrupted_one(make, stop_after):
    X, y = toy(n=50, d=4)  # 7 batches of 8 (the last one 2)

    def setup(seed=5):
        rng = np.random.default_rng(seed)
        model = MLP([4, 6, 3], rng)
        return model, rng

    model, rng = setup()
    straight = list(train(model, make(), X, y, epochs=3, batch_size=8, rng=rng, X_val=X, y_val=y))

    model, rng = setup()
    optimizer = make()
    trainer = Trainer(model, optimizer, X, y, batch_size=8, rng=rng, X_val=X, y_val=y)
    calls = 0
    original_step = optimizer.step

    def step_and_maybe_stop(params, grad):
        nonlocal calls
        original_step(params, grad)
        calls += 1
        if calls == 7 + stop_after:  # during the second epoch
            trainer.request_stop()

    optimizer.step = step_and_maybe_stop
    reports = []
    with pytest.raises(TrainingStopped):
        reports.extend(trainer.run(3))
    saved = (model.params.copy(), optimizer.state_dict(), trainer.state_dict())

    # a fresh process: new objects, everything restored from the saved state
    model2, rng2 = setup(seed=999)  # a different seed: the saved generator state must win
    model2.params[:] = saved[0]
    optimizer2 = make()
    optimizer2.load_state_dict(saved[1])
    trainer2 = Trainer(model2, optimizer2, X, y, batch_size=8, rng=rng2, X_val=X, y_val=y)
    trainer2.load_state_dict(saved[2])
    reports.extend(trainer2.run(3))

    straight_model, rng = setup()
    list(train(straight_model, make(), X, y, epochs=3, batch_size=8, rng=rng))
    assert np.array_equal(model2.params, straight_model.params)
    strip = [(r.epoch, r.train_loss, r.train_accuracy, r.val_loss, r.val_accuracy) for r in reports]
    assert strip == [
        (r.epoch, r.train_loss, r.train_accuracy, r.val_loss, r.val_accuracy) for r in straight
    ]


def test_lbfgs_reaches_scikit_learns_lbfgs_objective_from_the_same_weights():
    # Both start from our initial weights and get 100 iterations; both converge before that.
    # scikit-learn's objective is mean log-loss + (alpha / 2n) sum ||W||^2: weight_decay alpha/n.
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    model = MLP([4, 8, 3], np.random.default_rng(0))
    theirs = MLPClassifier(
        (8,), activation="logistic", solver="lbfgs", alpha=1.0, max_iter=1, warm_start=True
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        theirs.fit(X, y)  # sets up its arrays; then it continues from ours
    theirs.coefs_ = [W.copy() for W in model.weights]
    theirs.intercepts_ = [b.copy() for b in model.biases]
    theirs.max_iter = 100
    theirs.fit(X, y)
    weight_decay = 1.0 / len(X)
    reports = fit(
        model, LBFGS(), X, y, epochs=100, batch_size=8, rng=None, weight_decay=weight_decay
    )
    assert len(reports) < 100 and theirs.n_iter_ < 100  # both stopped on their own tests
    assert model.loss(X, y, weight_decay) == pytest.approx(theirs.loss_, rel=0.05)
    assert reports[-1].train_loss == pytest.approx(model.loss(X, y), rel=1e-12)


def test_lbfgs_stopped_and_resumed_through_a_state_file_ends_bit_identical(tmp_path):
    X, y = toy(n=40, d=4)

    def setup():
        model = MLP([4, 6, 3], np.random.default_rng(5))
        return model, LBFGS(memory=3)

    model, optimizer = setup()
    straight = fit(model, optimizer, X, y, epochs=12, batch_size=8, rng=None, weight_decay=0.01)
    assert len(straight) == 12  # the budget, not convergence, ends this run

    model2, optimizer2 = setup()
    trainer = Trainer(model2, optimizer2, X, y, batch_size=8, rng=None, weight_decay=0.01)
    original = optimizer2.iterate

    def iterate_and_stop_after_the_fifth(params, objective):
        original(params, objective)
        if trainer.batches_done == 0 and trainer.epochs_done == 4:  # in the fifth iteration
            trainer.request_stop()

    optimizer2.iterate = iterate_and_stop_after_the_fifth
    reports = []
    with pytest.raises(TrainingStopped):
        reports.extend(trainer.run(12))
    state = TrainingState(model2.params, optimizer2.state_dict(), trainer.state_dict(), {})
    save_training_state(tmp_path / "resume.npz", state)

    loaded = load_training_state(tmp_path / "resume.npz")
    model3, optimizer3 = setup()
    model3.params[:] = loaded.params
    optimizer3.load_state_dict(loaded.optimizer)
    trainer3 = Trainer(model3, optimizer3, X, y, batch_size=8, rng=None, weight_decay=0.01)
    trainer3.load_state_dict(loaded.trainer)
    reports.extend(trainer3.run(12))
    assert len(reports) == 12 and np.array_equal(model3.params, model.params)
    assert [r.train_loss for r in reports] == [r.train_loss for r in straight]
    assert [r.lr for r in reports] == [r.lr for r in straight]


def test_lbfgs_refuses_a_learning_rate_schedule():
    X, y = toy()
    with pytest.raises(ValueError, match="no lr schedule"):
        Trainer(
            MLP([3, 3], np.random.default_rng(0)),
            LBFGS(),
            X,
            y,
            batch_size=4,
            rng=None,
            lr_schedule=lambda epoch: 0.1,
        )
