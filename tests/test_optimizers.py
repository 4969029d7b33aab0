"""Optimizer updates against hand-computed steps and scikit-learn's own optimizers."""

import numpy as np
import pytest
from sklearn.neural_network._stochastic_optimizers import SGDOptimizer

from mlp import SGD, Adam, make_optimizer

GRADS = [1.0, 2.0, -1.0]  # three steps on one parameter starting at theta = 1


def run(optimizer, grads=GRADS, theta=1.0):
    params = np.array([theta])
    trajectory = []
    for g in grads:
        optimizer.step(params, np.array([g]))
        trajectory.append(float(params[0]))
    return trajectory


def test_plain_sgd_by_hand():
    assert run(SGD(lr=0.1, momentum=0.0)) == pytest.approx([0.9, 0.7, 0.8], rel=1e-15)


def test_classical_momentum_by_hand():
    # v1 = -0.1, v2 = 0.9 v1 - 0.2 = -0.29, v3 = 0.9 v2 + 0.1 = -0.161; theta += v
    assert run(SGD(lr=0.1, momentum=0.9)) == pytest.approx([0.9, 0.61, 0.449], rel=1e-14)


def test_nesterov_momentum_by_hand():
    # theta += 0.9 v_t - 0.1 g_t with the same velocities: 1 - 0.09 - 0.1, 0.81 - 0.261 - 0.2, ...
    assert run(SGD(lr=0.1, momentum=0.9, nesterov=True)) == pytest.approx(
        [0.81, 0.349, 0.3041], rel=1e-14
    )


def test_adam_by_hand():
    # Algorithm 1 with lr 0.1: m_hat_1 = 1, v_hat_1 = 1, so step 1 is 0.1 / (1 + 1e-8), and so on.
    assert run(Adam(lr=0.1)) == pytest.approx(
        [0.900000001, 0.8034817990281663, 0.7614728689681868], rel=1e-14
    )


@pytest.mark.parametrize("nesterov", [False, True])
def test_momentum_matches_scikit_learns_sgd_optimizer_over_many_steps(nesterov):
    rng = np.random.default_rng(0)
    params = [rng.normal(size=(3, 4)), rng.normal(size=4)]
    grads = [[rng.normal(size=(3, 4)), rng.normal(size=4)] for _ in range(25)]
    theirs = [p.copy() for p in params]
    reference = SGDOptimizer(theirs, learning_rate_init=0.05, momentum=0.8, nesterov=nesterov)
    ours = np.concatenate([p.ravel() for p in params])
    optimizer = SGD(lr=0.05, momentum=0.8, nesterov=nesterov)
    for g in grads:
        reference.update_params(theirs, g)
        optimizer.step(ours, np.concatenate([x.ravel() for x in g]))
    np.testing.assert_allclose(ours, np.concatenate([p.ravel() for p in theirs]), rtol=1e-12)


def test_adam_matches_a_scalar_transcription_of_algorithm_1_over_many_steps():
    rng = np.random.default_rng(1)
    grads = rng.normal(size=(40, 5))
    ours = np.zeros(5)
    optimizer = Adam(lr=0.01, beta1=0.8, beta2=0.99, eps=1e-6)
    for g in grads:
        optimizer.step(ours, g)
    for j in range(5):
        theta = m = v = 0.0
        for t, g in enumerate(grads[:, j], start=1):
            m = 0.8 * m + 0.2 * g
            v = 0.99 * v + 0.01 * g * g
            theta -= 0.01 * (m / (1 - 0.8**t)) / ((v / (1 - 0.99**t)) ** 0.5 + 1e-6)
        assert ours[j] == pytest.approx(theta, rel=1e-12)


@pytest.mark.parametrize(
    "make", [lambda: SGD(0.1, 0.9), lambda: SGD(0.1, 0.9, nesterov=True), lambda: Adam(0.01)]
)
def test_saved_and_restored_state_continues_exactly(make):
    rng = np.random.default_rng(2)
    grads = rng.normal(size=(10, 6))
    straight, optimizer = np.ones(6), make()
    for g in grads:
        optimizer.step(straight, g)
    resumed, first = np.ones(6), make()
    for g in grads[:4]:
        first.step(resumed, g)
    second = make()
    second.load_state_dict({k: v.copy() for k, v in first.state_dict().items()})
    for g in grads[4:]:
        second.step(resumed, g)
    assert np.array_equal(straight, resumed)


def test_float32_parameters_and_state_stay_float32():
    for optimizer in (SGD(0.1, 0.9), Adam(0.01)):
        params = np.ones(4, dtype=np.float32)
        optimizer.step(params, np.full(4, 0.5, dtype=np.float32))
        assert params.dtype == np.float32
        assert all(v.dtype == np.float32 for v in optimizer.state_dict().values() if v.ndim)


def test_make_optimizer_by_name_and_bad_hyperparameters():
    assert isinstance(make_optimizer("adam", lr=0.1), Adam)
    with pytest.raises(ValueError, match="sgd, adam, adamw, rmsprop, lbfgs"):
        make_optimizer("lion")
    for bad in (dict(lr=0), dict(momentum=1.0), dict(momentum=0.0, nesterov=True)):
        with pytest.raises(ValueError):
            SGD(**bad)
    with pytest.raises(ValueError, match="beta2"):
        Adam(beta2=1.0)
