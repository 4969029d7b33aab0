"""Optimizer updates against hand-computed steps and scikit-learn's own optimizers."""

import math

import numpy as np
import pytest
from sklearn.neural_network._stochastic_optimizers import SGDOptimizer

from mlp import SGD, Adam, make_optimizer
from mlp.hyperparams import HyperparameterError
from mlp.optimizers import LBFGS, AdamW, RMSprop
from mlp.optimizers.lbfgs import C1, C2

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


def test_adamw_matches_a_scalar_transcription_of_pytorchs_algorithm_and_spares_biases():
    # PyTorch's AdamW: theta <- theta - lr lambda theta, then Adam's step; here entries 0-2 are
    # weights and 3-4 biases, which are not decayed.
    rng = np.random.default_rng(3)
    grads = rng.normal(size=(30, 5))
    ours = np.linspace(-1.0, 1.0, 5)
    start = ours.copy()
    optimizer = AdamW(lr=0.02, beta1=0.8, beta2=0.99, eps=1e-6, weight_decay=0.1)
    optimizer.bind(np.array([True, True, True, False, False]))
    for g in grads:
        optimizer.step(ours, g)
    for j in range(5):
        theta, m, v = start[j], 0.0, 0.0
        for t, g in enumerate(grads[:, j], start=1):
            if j < 3:
                theta -= 0.02 * 0.1 * theta
            m = 0.8 * m + 0.2 * g
            v = 0.99 * v + 0.01 * g * g
            theta -= 0.02 * (m / (1 - 0.8**t)) / ((v / (1 - 0.99**t)) ** 0.5 + 1e-6)
        assert ours[j] == pytest.approx(theta, rel=1e-12)


def test_adamw_refuses_to_guess_which_entries_are_weights():
    with pytest.raises(RuntimeError, match="bind"):
        AdamW().step(np.ones(3), np.ones(3))


@pytest.mark.parametrize("momentum", [0.0, 0.7])
def test_rmsprop_matches_a_scalar_transcription_of_pytorchs_algorithm(momentum):
    # v <- alpha v + (1 - alpha) g^2; eps outside the root; b <- mu b + g / (sqrt v + eps).
    rng = np.random.default_rng(4)
    grads = rng.normal(size=(30, 4))
    ours = np.zeros(4)
    optimizer = RMSprop(lr=0.01, alpha=0.9, eps=1e-6, momentum=momentum)
    for g in grads:
        optimizer.step(ours, g)
    for j in range(4):
        theta = v = b = 0.0
        for g in grads[:, j]:
            v = 0.9 * v + 0.1 * g * g
            b = momentum * b + g / (v**0.5 + 1e-6)
            theta -= 0.01 * (b if momentum else g / (v**0.5 + 1e-6))
        assert ours[j] == pytest.approx(theta, rel=1e-12)


def test_rmsprop_first_step_by_hand():
    # v1 = 0.01 * 4 = 0.04, so the step is lr g / (0.2 + eps) = 0.01 * 2 / 0.2 = 0.1.
    assert run(RMSprop(lr=0.01, eps=1e-300), grads=[2.0]) == pytest.approx([0.9], rel=1e-14)


def test_two_loop_recursion_equals_the_dense_bfgs_inverse_hessian_update():
    # N&W eq. 7.19 applied to H_0 = gamma I with the same pairs: H <- V^T H V + rho s s^T,
    # V = I - rho y s^T. The two-loop recursion must give H g without forming H.
    rng = np.random.default_rng(5)
    n, A = 6, np.diag(np.arange(1.0, 7.0)) + 0.1
    S = rng.normal(size=(4, n))
    Y = S @ A  # y = A s for a quadratic with Hessian A: y^T s > 0
    g = rng.normal(size=n)
    optimizer = LBFGS(memory=4)
    optimizer.S, optimizer.Y = S, Y
    H = (S[-1] @ Y[-1]) / (Y[-1] @ Y[-1]) * np.eye(n)
    for s, y in zip(S, Y):
        rho = 1.0 / (y @ s)
        V = np.eye(n) - rho * np.outer(y, s)
        H = V.T @ H @ V + rho * np.outer(s, s)
    np.testing.assert_allclose(optimizer._inverse_hessian_times(g), H @ g, rtol=1e-12)


def rosenbrock(params):
    """f(x, y) = (1 - x)^2 + 100 (y - x^2)^2, its gradient at the current params."""
    x, y = params
    f = (1 - x) ** 2 + 100 * (y - x * x) ** 2
    return f, np.array([-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)])


def test_lbfgs_finds_the_rosenbrock_minimum_with_strong_wolfe_steps():
    params, optimizer = np.array([-1.2, 1.0]), LBFGS(tol=1e-8)
    for _ in range(100):
        x0 = params.copy()
        f0, g0 = rosenbrock(x0)
        optimizer.iterate(params, lambda: rosenbrock(params))
        if optimizer.converged:
            break
        p = (params - x0) / optimizer.lr  # the search direction the step was taken along
        f1, g1 = rosenbrock(params)
        assert f1 <= f0 + C1 * optimizer.lr * (g0 @ p)  # sufficient decrease
        assert abs(g1 @ p) <= C2 * abs(g0 @ p)  # the strong curvature condition
    np.testing.assert_allclose(params, [1.0, 1.0], atol=1e-5)
    assert optimizer.converged and optimizer.n_fun < 100


def test_lbfgs_backs_off_from_a_trial_step_where_the_objective_is_not_finite():
    # f = -x for x < 0, x^2 - x on [0, 0.75] (minimum -0.25 at 0.5), undefined (nan) beyond.
    # From x = -3 (g = -1, first step 1) the line search doubles: x = -2, -1, then 1, where f is
    # nan. It must take that as "too far" and zoom back into [-1, 1]: bisection finds x = 0,
    # then x = 0.5, where the slope is 0 and both Wolfe conditions hold.
    def objective():
        x = params[0]
        if x > 0.75:
            return math.nan, np.array([math.nan])
        return (-x, np.array([-1.0])) if x < 0 else (x * x - x, np.array([2 * x - 1]))

    params, optimizer = np.array([-3.0]), LBFGS()
    optimizer.iterate(params, objective)
    assert params[0] == 0.5 and optimizer.f == -0.25 and optimizer.n_fun == 6


@pytest.mark.parametrize(
    "make",
    [
        lambda: SGD(0.1, 0.9),
        lambda: SGD(0.1, 0.9, nesterov=True),
        lambda: Adam(0.01),
        lambda: RMSprop(0.01, momentum=0.5),
    ],
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
    for optimizer in (SGD(0.1, 0.9), Adam(0.01), AdamW(0.01), RMSprop(0.01, momentum=0.5)):
        optimizer.bind(np.array([True, True, False, False]))
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
    with pytest.raises(HyperparameterError, match="memory must be an integer >= 1, got 0"):
        LBFGS(memory=0)


def test_defaults_are_pytorchs_and_scikit_learns():
    # torch.optim.AdamW / RMSprop defaults; SGD momentum 0.9 as scikit-learn's MLPClassifier;
    # L-BFGS memory 10, tol 1e-4 and max_fun 15000 as MLPClassifier(solver="lbfgs").
    assert AdamW().hyperparameters() == dict(
        lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01
    )
    assert RMSprop().hyperparameters() == dict(lr=0.01, alpha=0.99, eps=1e-8, momentum=0.0)
    assert SGD().momentum == 0.9
    assert LBFGS().hyperparameters() == dict(memory=10, tol=1e-4, max_fun=15000)
