"""The element-wise and row-wise functions of the network, each stable for any finite input.

Conventions: rows are samples, columns are units; `logits` are the top layer's pre-activations
`z`, `probs` their softmax `p`, and `y` holds integer class indices (never one-hot).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


def sigmoid(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """sigma(z) = 1 / (1 + exp(-z)), correct to rounding for every z, without warnings.

    Written this way round the result keeps full relative precision in both tails (sigma(-40)
    is 4.2e-18, not 0). For z < -709 (float64; -88 in float32) exp(-z) overflows to inf and
    1 / (1 + inf) = 0 is the correct limit, so that one overflow is silenced, not avoided:
    avoiding it (a branch on the sign of z, or clipping) costs twice the time in the hot loop.
    """
    with np.errstate(over="ignore"):
        out = np.negative(z, out=out)
        np.exp(out, out=out)
    out += 1.0
    return np.divide(1.0, out, out=out)  # the same bits as np.reciprocal, a third faster here


def sigmoid_derivative(a: np.ndarray) -> np.ndarray:
    """d sigma / dz written in terms of the output a = sigma(z): sigma'(z) = a (1 - a)."""
    return a * (1.0 - a)


def softmax(logits: np.ndarray) -> np.ndarray:
    """p_j = exp(z_j) / sum_k exp(z_k) along each row.

    The row maximum is subtracted first: softmax is unchanged by a shift, and the largest
    exponent becomes exp(0) = 1, so nothing overflows and every row sums to 1.
    """
    shifted = logits - logits.max(axis=1, keepdims=True)
    exps = np.exp(shifted)
    return exps / exps.sum(axis=1, keepdims=True)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """log p_j = z_j - log sum_k exp(z_k), computed as a shifted log-sum-exp.

    Finite wherever the logits are, even where p_j itself underflows to 0.
    """
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def cross_entropy(logits: np.ndarray, y: np.ndarray) -> float:
    """Mean cross-entropy E = -(1/B) sum_i log p_{i, y_i}, from log-softmax (never log of a p)."""
    log_probs = log_softmax(logits)
    return float(-log_probs[np.arange(len(y)), y].mean())


def softmax_cross_entropy(
    logits: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None
) -> tuple[float, np.ndarray]:
    """The mean cross-entropy E and its gradient dE/dz = (p - onehot(y)) / B, in one pass.

    The softmax Jacobian and the derivative of -log p_y cancel to p - y, which is why the
    softmax and the loss are fused here rather than differentiated separately. With sample
    `weights` w, E is the weighted mean sum_i w_i l_i / sum_i w_i (PyTorch's
    CrossEntropyLoss(weight=...) with w_i the weight of y_i's class), and row i of the
    gradient is w_i (p_i - onehot(y_i)) / sum_i w_i.
    """
    B, K = logits.shape
    # Entry (i, j) of a B x K array is entry i K + j of its flat view. Indexing that view with
    # such offsets took a third of the time of indexing with (row, column) pairs here, and
    # this function's dozen small calls are a fifth of a digits step (benchmarks/
    # step_profile.py). The labels are not checked (a label >= K would read the next row):
    # Trainer and MLP.loss_and_grad check them.
    row_starts = np.arange(0, B * K, K)
    at_y = row_starts + np.asarray(y, dtype=np.intp)  # where z_{i, y_i} is
    # max_k z_ik through argmax: NumPy's max along rows of a few classes is slower than both.
    top = logits.reshape(-1)[row_starts + logits.argmax(axis=1)]
    # z - max z: nothing overflows. In C order whatever the logits' order, so that `flat` is a
    # view of it (of a Fortran-ordered array, reshape(-1) would be a copy).
    shifted = np.subtract(logits, top[:, None], order="C")
    flat = shifted.reshape(-1)
    target = flat[at_y]  # z_{i, y_i} - max z_i
    probs = np.exp(shifted, out=shifted)  # flat is now a view of probs
    sums = probs.sum(axis=1, keepdims=True)
    if weights is None:
        loss = float(np.log(sums).sum() - target.sum()) / B  # E = mean(log sum_k exp z_k - z_y)
    else:
        share = np.asarray(weights, dtype=logits.dtype) / np.sum(weights)  # w_i / sum w
        loss = float(share @ (np.log(sums[:, 0]) - target))  # E = sum w_i l_i / sum w_i
    probs /= sums  # p = softmax(z)
    flat[at_y] -= 1.0  # p - y, with y one-hot
    if weights is None:
        probs /= B
    else:
        probs *= share[:, None]
    return loss, probs


def cross_entropy_grad(logits: np.ndarray, y: np.ndarray) -> np.ndarray:
    """dE/dz of the mean cross-entropy with respect to the logits: (p - onehot(y)) / B."""
    return softmax_cross_entropy(logits, y)[1]


def onehot(y: np.ndarray, n_classes: int, dtype: np.dtype | type = np.float64) -> np.ndarray:
    """The one-hot matrix Y with Y[i, y_i] = 1, for readers who want `p - Y` spelled out."""
    Y = np.zeros((len(y), n_classes), dtype=dtype)
    Y[np.arange(len(y)), y] = 1.0
    return Y


def tanh(z: np.ndarray) -> np.ndarray:
    """tanh(z), bounded in (-1, 1); NumPy's is exact to rounding and never overflows."""
    return np.tanh(z)


def tanh_derivative(a: np.ndarray) -> np.ndarray:
    """d tanh / dz in terms of the output a = tanh(z): 1 - a^2."""
    return 1.0 - a * a


def relu(z: np.ndarray) -> np.ndarray:
    """max(z, 0)."""
    return np.maximum(z, 0.0)


def relu_derivative(a: np.ndarray) -> np.ndarray:
    """d relu / dz in terms of the output a = relu(z): 1 where a > 0, else 0 (0 at the kink)."""
    return (a > 0).astype(a.dtype)


@dataclass(frozen=True)
class Activation:
    """A hidden-layer nonlinearity, its derivative, and the gain of its initial weights.

    `derivative(z, a)` is sigma'(z), given both the layer's input z and its output a = fn(z),
    so that it can be written from whichever is simpler. `init_gain` scales the Glorot-uniform
    bound sqrt(6 / (fan_in + fan_out)) of the weights feeding a layer of this activation (see
    `MLP.__init__`).

    What later code may ask of it, declared here rather than by testing its name:
    `saturates`: its slope vanishes for large |z| (a unit far from 0 stops learning);
    `can_die`: it outputs 0 with slope 0 over a whole half-line (a unit pushed there for every
    input never recovers); `onnx_op`: the ONNX operator that computes it (`mlp export`).
    """

    name: str
    fn: Callable[[np.ndarray], np.ndarray]
    derivative: Callable[[np.ndarray, np.ndarray], np.ndarray]
    init_gain: float = 1.0
    saturates: bool = False
    can_die: bool = False
    onnx_op: str = ""


# The activations, declared here once; the config's model.activation choices come from this.
ACTIVATIONS: dict[str, Activation] = {
    act.name: act
    for act in (
        Activation(
            "sigmoid",
            sigmoid,
            lambda z, a: sigmoid_derivative(a),
            saturates=True,
            onnx_op="Sigmoid",
        ),
        Activation("tanh", tanh, lambda z, a: tanh_derivative(a), saturates=True, onnx_op="Tanh"),
        # He et al.: a ReLU zeroes half its inputs, so twice the variance (gain sqrt 2) keeps
        # the signal's size from layer to layer.
        Activation(
            "relu",
            relu,
            lambda z, a: relu_derivative(a),
            init_gain=math.sqrt(2.0),
            can_die=True,
            onnx_op="Relu",
        ),
    )
}
# The hidden layers' activation when a config names none: the tutorials' sigmoid.
DEFAULT_ACTIVATION = "sigmoid"


def get_activation(name: str) -> Activation:
    """Look an activation up by name; an unknown name lists the known ones."""
    try:
        return ACTIVATIONS[name]
    except KeyError:
        known = ", ".join(sorted(ACTIVATIONS))
        raise ValueError(f"unknown activation {name!r}; choose one of: {known}") from None
