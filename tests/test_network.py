"""The network's layout, forward pass and one training step, against hand calculation."""

import math

import numpy as np
import pytest

from mlp import MLP, SGD


def test_parameters_are_views_of_one_flat_vector_in_w1_b1_w2_b2_order():
    model = MLP([3, 4, 2], np.random.default_rng(0))
    assert model.n_params == 3 * 4 + 4 + 4 * 2 + 2
    assert model.param_names == ["W1", "b1", "W2", "b2"]
    assert [W.shape for W in model.weights] == [(3, 4), (4, 2)]
    assert [b.shape for b in model.biases] == [(4,), (2,)]
    model.params[:] = np.arange(model.n_params)
    assert model.weights[0][0, 0] == 0 and model.biases[0][0] == 12 and model.weights[1][0, 0] == 16


def test_glorot_uniform_bounds_and_zero_biases():
    model = MLP([64, 128, 10], np.random.default_rng(0))
    for W in model.weights:
        limit = math.sqrt(6 / sum(W.shape))
        assert np.abs(W).max() <= limit
        assert np.abs(W).max() > 0.95 * limit  # the whole range is used
        # U(-r, r) has variance r^2 / 3
        assert W.var() == pytest.approx(limit**2 / 3, rel=0.1)
    assert all((b == 0).all() for b in model.biases)


def test_same_seed_same_weights_and_different_seed_different_weights():
    a = MLP([5, 7, 3], np.random.default_rng(42))
    b = MLP([5, 7, 3], np.random.default_rng(42))
    c = MLP([5, 7, 3], np.random.default_rng(43))
    assert np.array_equal(a.params, b.params)
    assert not np.array_equal(a.params, c.params)


def test_forward_of_a_one_hidden_unit_network_by_hand():
    # x = 1, W1 = [[0.5]], b1 = [0.25]: a1 = sigma(0.75); W2 = [[1, -1]], b2 = [0, 0.5].
    model = MLP.from_arrays(
        [np.array([[0.5]]), np.array([[1.0, -1.0]])], [np.array([0.25]), np.array([0.0, 0.5])]
    )
    a1 = 1 / (1 + math.exp(-0.75))
    logits = model.logits(np.array([[1.0]]))
    np.testing.assert_allclose(logits[0], [a1, -a1 + 0.5], rtol=1e-15)


def test_one_sgd_step_on_a_tiny_network_by_hand():
    # The same 1-1-2 network, one sample x = 1 of class 0, lr = 0.5, scalar algebra only.
    model = MLP.from_arrays(
        [np.array([[0.5]]), np.array([[1.0, -1.0]])], [np.array([0.25]), np.array([0.0, 0.5])]
    )
    a1 = 1 / (1 + math.exp(-0.75))
    z = [a1, -a1 + 0.5]
    p0 = math.exp(z[0]) / (math.exp(z[0]) + math.exp(z[1]))
    d2 = [p0 - 1, 1 - p0]  # p - y for y = class 0
    d1 = (d2[0] * 1.0 + d2[1] * -1.0) * a1 * (1 - a1)  # (delta2 W2^T) * sigma'
    lr = 0.5
    expected = {
        "W1": [[0.5 - lr * d1 * 1.0]],
        "b1": [0.25 - lr * d1],
        "W2": [[1.0 - lr * d2[0] * a1, -1.0 - lr * d2[1] * a1]],
        "b2": [0.0 - lr * d2[0], 0.5 - lr * d2[1]],
    }
    loss, grad = model.loss_and_grad(np.array([[1.0]]), np.array([0]))
    assert loss == pytest.approx(-math.log(p0), rel=1e-15)
    SGD(lr=lr, momentum=0.0).step(model.params, grad)
    for name, array in model.named_arrays().items():
        np.testing.assert_allclose(array, expected[name], rtol=1e-14, err_msg=name)


def test_weight_decay_adds_half_lambda_sum_of_squared_weights_and_spares_biases():
    model = MLP([2, 3, 2], np.random.default_rng(0))
    model.biases[0][:] = 5.0  # a decayed bias would show in both the loss and the gradient
    X, y = np.array([[0.3, -0.2]]), np.array([1])
    lam = 0.1
    loss0, grad0 = model.loss_and_grad(X, y)
    loss, grad = model.loss_and_grad(X, y, weight_decay=lam)
    sum_sq = sum(float((W**2).sum()) for W in model.weights)
    assert loss == pytest.approx(loss0 + lam / 2 * sum_sq, rel=1e-14)
    diff = model.named_arrays(grad - grad0)
    np.testing.assert_allclose(diff["W1"], lam * model.weights[0], rtol=1e-12)
    np.testing.assert_allclose(diff["W2"], lam * model.weights[1], rtol=1e-12)
    assert np.array_equal(diff["b1"], np.zeros(3)) and np.array_equal(diff["b2"], np.zeros(2))


def test_float32_model_stays_float32_through_forward_and_backward():
    model = MLP([4, 5, 3], np.random.default_rng(0), dtype="float32")
    X = np.random.default_rng(1).normal(size=(6, 4)).astype(np.float32)
    zs, activations = model.forward(X)
    assert all(a.dtype == np.float32 for a in zs + activations)
    loss, grad = model.backward(zs, activations, np.array([0, 1, 2, 0, 1, 2]), weight_decay=0.01)
    assert isinstance(loss, float)
    assert model.params.dtype == np.float32 and grad.dtype == np.float32


@pytest.mark.parametrize("sizes", [[3], [3, 0, 2], [3, -1, 2], [3, 2.5, 2], [3, True, 2]], ids=str)
def test_invalid_layer_sizes_are_refused(sizes):
    with pytest.raises(ValueError, match="layer"):
        MLP(sizes, np.random.default_rng(0))


def test_unknown_activation_and_dtype_list_the_choices():
    with pytest.raises(ValueError, match="sigmoid"):
        MLP([2, 2], np.random.default_rng(0), activation="swish")
    with pytest.raises(ValueError, match="float64, float32"):
        MLP([2, 2], np.random.default_rng(0), dtype="float16")


def test_forward_keeps_each_layers_z_and_a_for_backward():
    # 2-3-2 with tanh: a_1 = tanh(z_1) by hand from the same arrays, and z_2 = a_1 W_2 + b_2.
    model = MLP([2, 3, 2], np.random.default_rng(4), activation="tanh")
    X = np.array([[0.5, -1.0]])
    zs, activations = model.forward(X)
    W1, W2, b1, b2 = model.weights[0], model.weights[1], model.biases[0], model.biases[1]
    z1 = [X[0, 0] * W1[0, j] + X[0, 1] * W1[1, j] + b1[j] for j in range(3)]
    np.testing.assert_allclose(zs[0][0], z1, rtol=1e-14)
    np.testing.assert_allclose(activations[1][0], np.tanh(z1), rtol=1e-14)
    assert activations[0] is X and len(zs) == 2 and len(activations) == 2
    z2 = [sum(math.tanh(z1[k]) * W2[k, j] for k in range(3)) + b2[j] for j in range(2)]
    np.testing.assert_allclose(zs[1][0], z2, rtol=1e-13)


def test_weight_mask_is_true_on_weights_and_false_on_biases():
    model = MLP([2, 3, 2], np.random.default_rng(0))
    mask = model.named_arrays(model.weight_mask)
    assert mask["W1"].all() and mask["W2"].all()
    assert not mask["b1"].any() and not mask["b2"].any()
    assert model.weight_mask.sum() == 2 * 3 + 3 * 2
