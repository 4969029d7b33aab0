"""Backprop against centred finite differences, and proof that the check can fail."""

import numpy as np
import pytest

from mlp import MLP, gradient_check
from mlp.functions import ACTIVATIONS, Activation, sigmoid
from mlp.gradcheck import numerical_gradient, relative_error


def small_problem(sizes, seed=0, n=6):
    rng = np.random.default_rng(seed)
    model = MLP(sizes, rng)
    X = rng.normal(size=(n, sizes[0]))
    y = rng.integers(0, sizes[-1], size=n)
    return model, X, y


@pytest.mark.parametrize(
    "sizes", [[4, 3], [4, 5, 3], [4, 6, 5, 3]], ids=["depth1", "depth2", "depth3"]
)
@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_backprop_matches_centred_differences_to_1e_7(sizes, weight_decay):
    model, X, y = small_problem(sizes)
    results = gradient_check(model, X, y, weight_decay=weight_decay)
    assert [r.name for r in results] == model.param_names
    for r in results:
        assert r.n_checked == int(np.prod(r.shape))
        assert r.max_rel_error < 1e-7, r


def test_analytic_gradient_equals_an_independent_numerical_gradient_entrywise():
    model, X, y = small_problem([3, 4, 4, 2], seed=3)
    _, analytic = model.loss_and_grad(X, y, weight_decay=0.05)
    numerical = numerical_gradient(model, X, y, np.arange(model.n_params), weight_decay=0.05)
    np.testing.assert_allclose(analytic, numerical, rtol=1e-6, atol=1e-9)


def test_gradient_check_runs_in_float64_for_a_float32_model_and_leaves_it_unchanged():
    rng = np.random.default_rng(0)
    model = MLP([4, 5, 3], rng, dtype="float32")
    before = model.params.copy()
    X = rng.normal(size=(6, 4)).astype(np.float32)
    results = gradient_check(model, X, rng.integers(0, 3, 6))
    assert max(r.max_rel_error for r in results) < 1e-7
    assert np.array_equal(model.params, before) and model.params.dtype == np.float32


def test_sampling_checks_at_most_max_entries_per_array_reproducibly():
    model, X, y = small_problem([10, 20, 3])
    a = gradient_check(model, X, y, max_entries=7, rng=np.random.default_rng(5))
    b = gradient_check(model, X, y, max_entries=7, rng=np.random.default_rng(5))
    assert [r.n_checked for r in a] == [7, 7, 7, 3]
    assert a == b


class MeanBiasGradient(MLP):
    """A classic bug: the bias gradient averaged over the batch a second time."""

    def loss_and_grad(self, X, y, weight_decay=0.0):
        loss, grad = super().loss_and_grad(X, y, weight_decay)
        for b in self.unflatten(grad)[1]:
            b /= len(y)
        return loss, grad


class ForgetsWeightDecay(MLP):
    """Another: the L2 term left out of the gradient (but not the loss)."""

    def loss_and_grad(self, X, y, weight_decay=0.0):
        _, grad = super().loss_and_grad(X, y, 0.0)
        return self.loss(X, y, weight_decay), grad


@pytest.mark.parametrize("buggy", [MeanBiasGradient, ForgetsWeightDecay])
def test_the_check_fails_when_backward_has_a_bug(buggy):
    model, X, y = small_problem([4, 5, 3])
    bad = buggy.from_arrays(model.weights, model.biases)
    results = gradient_check(bad, X, y, weight_decay=0.1)
    assert max(r.max_rel_error for r in results) > 1e-3


def test_the_check_fails_for_a_wrong_activation_derivative(monkeypatch):
    # sigma' written as sigma(1 + sigma) instead of sigma(1 - sigma): wrong only in hidden layers.
    wrong = Activation("sigmoid", sigmoid, lambda z, a: a * (1.0 + a))
    monkeypatch.setitem(ACTIVATIONS, "sigmoid", wrong)
    model, X, y = small_problem([4, 5, 3])
    by_name = {r.name: r.max_rel_error for r in gradient_check(model, X, y)}
    assert by_name["W1"] > 1e-2 and by_name["b1"] > 1e-2
    assert by_name["W2"] < 1e-7 and by_name["b2"] < 1e-7  # the top layer does not use sigma'


def test_relative_error_formula_and_its_floor():
    a = np.array([1.0, 0.0, 1e-12, -2.0])
    n = np.array([1.1, 0.0, 2e-12, 2.0])
    r = relative_error(a, n, tiny=1e-5)
    np.testing.assert_allclose(r, [0.1 / 2.1, 0.0, 1e-12 / 1e-5, 1.0])


def test_worst_entry_is_reported_with_its_index_and_both_values():
    model, X, y = small_problem([4, 3])
    bad = MeanBiasGradient.from_arrays(model.weights, model.biases)
    result = {r.name: r for r in gradient_check(bad, X, y)}["b1"]
    assert result.shape == (3,) and len(result.worst_index) == 1
    assert result.analytic == pytest.approx(result.numerical / len(y), rel=1e-6)
