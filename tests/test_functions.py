"""The loss functions against the tutorials' worked numbers, hand algebra and finite differences."""

import math
import warnings

import numpy as np
import pytest

from mlp.functions import (
    cross_entropy,
    cross_entropy_grad,
    log_softmax,
    onehot,
    sigmoid,
    sigmoid_derivative,
    softmax,
    softmax_cross_entropy,
)

# The worked example of ../shared/seeds/002: a softmax output over five classes, true class 3
# (index 2), the input x = [0.1, 0.5, 0.4] and the printed dXE/dW, flattened output-major.
TUTORIAL_S = np.array([0.19091352, 0.20353145, 0.21698333, 0.23132428, 0.15724743])
TUTORIAL_X = np.array([0.1, 0.5, 0.4])
TUTORIAL_DXE_DW = np.array(
    [
        [0.01909135, 0.09545676, 0.07636541, 0.02035314, 0.10176572],
        [0.08141258, -0.07830167, -0.39150833, -0.31320667, 0.02313243],
        [0.11566214, 0.09252971, 0.01572474, 0.07862371, 0.06289897],
    ]
)


def test_cross_entropy_of_the_tutorials_worked_example_is_1_6094():
    # ../shared/seeds/000: output [0.2, 0.6, 0.2] against the first class: -ln 0.2 = 1.6094.
    logits = np.log([[0.2, 0.6, 0.2]])  # softmax(log p) = p when p sums to 1
    assert cross_entropy(logits, np.array([0])) == pytest.approx(1.6094379124341003, abs=1e-12)
    assert cross_entropy(logits, np.array([0])) == pytest.approx(-math.log(0.2), rel=1e-15)


def test_cross_entropy_of_the_five_class_example_is_minus_log_s_c():
    logits = np.log(TUTORIAL_S)[None, :]
    assert cross_entropy(logits, np.array([2])) == pytest.approx(-math.log(0.21698333), rel=1e-7)
    # dXE/dS_c = -1 / S_c, printed in the tutorial as -4.60864
    assert -1 / softmax(logits)[0, 2] == pytest.approx(-4.60864, abs=1e-5)


def test_output_layer_weight_gradient_matches_the_tutorials_printed_matrix():
    # One layer, z = x W + b: dE/dW[j, i] = x_j (S_i - y_i). With W = 0 and b = log S, p = S.
    p_minus_y = cross_entropy_grad(np.log(TUTORIAL_S)[None, :], np.array([2]))[0]
    grad_W = np.outer(TUTORIAL_X, p_minus_y)  # (fan_in, fan_out), as the network stores it
    # The tutorial flattens output-major (index i * 3 + j) and reshapes to 3 x 5.
    np.testing.assert_allclose(grad_W.T.ravel().reshape(3, 5), TUTORIAL_DXE_DW, atol=2e-8)


def test_softmax_by_hand():
    z = np.array([[1.0, 2.0, 3.0]])
    e = np.exp([1.0, 2.0, 3.0])
    np.testing.assert_allclose(softmax(z)[0], e / e.sum(), rtol=1e-15)
    np.testing.assert_allclose(log_softmax(z)[0], np.log(e / e.sum()), rtol=1e-14)


def test_sigmoid_by_hand_and_its_derivative_from_its_output():
    z = np.array([-2.0, 0.0, 3.0])
    expected = 1 / (1 + np.exp(-z))
    np.testing.assert_allclose(sigmoid(z), expected, rtol=1e-15)
    h = 1e-6
    numerical = (sigmoid(z + h) - sigmoid(z - h)) / (2 * h)
    np.testing.assert_allclose(sigmoid_derivative(sigmoid(z)), numerical, rtol=1e-8)


def test_sigmoid_keeps_relative_precision_in_the_far_negative_tail():
    assert sigmoid(np.array([-40.0]))[0] == pytest.approx(math.exp(-40) / (1 + math.exp(-40)))
    assert sigmoid(np.array([-700.0]))[0] > 0


@pytest.mark.parametrize("big", [1000.0, 1e4])
def test_functions_are_finite_and_warning_free_at_huge_inputs(big):
    z = np.array([[big, -big, 0.0], [-big, -big, -big], [big, big, -big]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any overflow / invalid / divide warning fails the test
        s = sigmoid(z)
        p = softmax(z)
        lp = log_softmax(z)
        loss = cross_entropy(z, np.array([1, 0, 2]))
        grad = cross_entropy_grad(z, np.array([1, 0, 2]))
    assert np.array_equal(s, [[1.0, 0.0, 0.5], [0.0, 0.0, 0.0], [1.0, 1.0, 0.0]])
    assert np.isfinite(p).all() and np.allclose(p.sum(axis=1), 1.0)
    assert np.isfinite(lp).all() and np.isfinite(grad).all()
    # By hand: -log p = logsumexp(z) - z_y per row: 2 big, log 3, and big + log 2 - (-big).
    expected = (2 * big + math.log(3.0) + 2 * big + math.log(2.0)) / 3
    assert loss == pytest.approx(expected, rel=1e-12)


def test_cross_entropy_stays_finite_where_a_probability_underflows():
    logits = np.array([[0.0, -800.0]])
    assert softmax(logits)[0, 1] == 0.0  # p underflows ...
    assert cross_entropy(logits, np.array([1])) == pytest.approx(800.0)  # ... -log p does not


def test_fused_gradient_is_p_minus_onehot_over_batch_size():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(4, 3))
    y = np.array([0, 2, 1, 2])
    expected = (softmax(z) - onehot(y, 3)) / 4
    np.testing.assert_allclose(cross_entropy_grad(z, y), expected, rtol=1e-14)


def test_fused_gradient_matches_finite_differences_of_the_loss():
    rng = np.random.default_rng(1)
    z = rng.normal(scale=3.0, size=(5, 4))
    y = rng.integers(0, 4, size=5)
    numerical = np.zeros_like(z)
    h = 1e-6
    for idx in np.ndindex(z.shape):
        plus, minus = z.copy(), z.copy()
        plus[idx] += h
        minus[idx] -= h
        numerical[idx] = (cross_entropy(plus, y) - cross_entropy(minus, y)) / (2 * h)
    np.testing.assert_allclose(cross_entropy_grad(z, y), numerical, atol=1e-9)


def test_float32_inputs_stay_float32():
    z = np.ones((2, 3), dtype=np.float32)
    y = np.array([0, 1])
    for out in (sigmoid(z), softmax(z), log_softmax(z), cross_entropy_grad(z, y)):
        assert out.dtype == np.float32


def test_fused_loss_equals_the_log_softmax_cross_entropy():
    rng = np.random.default_rng(2)
    z = rng.normal(scale=5.0, size=(7, 4))
    y = rng.integers(0, 4, size=7)
    loss, delta = softmax_cross_entropy(z, y)
    assert loss == pytest.approx(cross_entropy(z, y), rel=1e-14)
    np.testing.assert_allclose(delta, (softmax(z) - onehot(y, 4)) / 7, atol=1e-16)


def test_sigmoid_writes_into_out_when_given():
    z = np.array([-1.0, 0.0, 2.0])
    out = np.empty(3)
    assert sigmoid(z, out=out) is out
    np.testing.assert_allclose(out, 1 / (1 + np.exp(-z)), rtol=1e-15)
    assert np.array_equal(z, [-1.0, 0.0, 2.0])  # the input is untouched


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("label_dtype", [np.intp, np.int32, np.uint8, np.uint64])
def test_fused_gradient_for_any_memory_order_and_integer_label_type(order, label_dtype):
    rng = np.random.default_rng(3)
    z = np.asarray(rng.normal(size=(5, 4)), order=order)
    y = np.array([0, 3, 1, 1, 2], dtype=label_dtype)
    expected = (softmax(z) - onehot(y.astype(np.intp), 4)) / 5
    loss, grad = softmax_cross_entropy(z, y)
    np.testing.assert_allclose(grad, expected, rtol=1e-13, atol=1e-16)
    assert loss == pytest.approx(cross_entropy(z, y.astype(np.intp)), rel=1e-14)
