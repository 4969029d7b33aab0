"""Properties that must hold for any input, searched for with hypothesis."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from mlp import MLP
from mlp.functions import log_softmax, sigmoid, softmax, softmax_cross_entropy
from mlp.gradcheck import numerical_gradient

finite = st.floats(min_value=-1e300, max_value=1e300, allow_nan=False, allow_infinity=False)
logit_matrices = arrays(
    np.float64, st.tuples(st.integers(1, 6), st.integers(1, 6)), elements=finite
)


@given(logit_matrices)
def test_softmax_rows_are_finite_and_sum_to_one(z):
    with np.errstate(all="raise"):  # no overflow, underflow is fine but nothing invalid
        try:
            p = softmax(z)
        except FloatingPointError as err:
            assert "underflow" in str(err)
            with np.errstate(under="ignore"):
                p = softmax(z)
    assert np.isfinite(p).all() and (p >= 0).all()
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12)


@given(logit_matrices)
def test_log_softmax_is_never_nan_and_never_positive(z):
    with np.errstate(under="ignore"):
        lp = log_softmax(z)
    assert not np.isnan(lp).any() and (lp <= 0).all()
    assert (lp.max(axis=1) > -np.log(z.shape[1]) - 1e-9).all()  # the top class has p >= 1/K


@given(arrays(np.float64, st.integers(1, 20), elements=finite))
def test_sigmoid_is_in_the_unit_interval_for_any_finite_input(z):
    s = sigmoid(z)
    assert ((s >= 0) & (s <= 1)).all()
    np.testing.assert_allclose(s + sigmoid(-z), 1.0, rtol=1e-15)  # sigma(z) + sigma(-z) = 1


@given(logit_matrices, st.data())
def test_fused_loss_and_gradient_are_finite_for_any_finite_logits(z, data):
    y = np.array(
        data.draw(st.lists(st.integers(0, z.shape[1] - 1), min_size=len(z), max_size=len(z)))
    )
    with np.errstate(under="ignore"):
        loss, delta = softmax_cross_entropy(z, y)
    assert np.isfinite(loss) and loss >= 0 and np.isfinite(delta).all()
    np.testing.assert_allclose(delta.sum(axis=1), 0.0, atol=1e-12)  # rows of p - y sum to 0


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 5), min_size=2, max_size=4),
    n=st.integers(1, 5),
    seed=st.integers(0, 2**32 - 1),
    weight_decay=st.sampled_from([0.0, 0.1]),
)
def test_backprop_equals_finite_differences_for_random_small_networks(sizes, n, seed, weight_decay):
    sizes[-1] = max(sizes[-1], 2)  # at least two classes
    rng = np.random.default_rng(seed)
    model = MLP(sizes, rng)
    X = rng.normal(scale=2.0, size=(n, sizes[0]))
    y = rng.integers(0, sizes[-1], size=n)
    _, analytic = model.loss_and_grad(X, y, weight_decay)
    numerical = numerical_gradient(
        model, X, y, np.arange(model.n_params), weight_decay=weight_decay
    )
    np.testing.assert_allclose(analytic, numerical, rtol=1e-5, atol=1e-8)
