"""The element-wise and row-wise functions of the network, each stable for any finite input.

Conventions: rows are samples, columns are units; `logits` are the top layer's pre-activations
`z`, `probs` their softmax `p`, and `y` holds integer class indices (never one-hot).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


def sigmoid(z: np.ndarray) -> np.ndarray:
    """sigma(z) = 1 / (1 + exp(-z)), with exp only ever taken of -|z| <= 0, so it cannot overflow.

    Both tails keep full relative precision: sigma(-40) is 4.2e-18, not 0.
    """
    e = np.exp(-np.abs(z))  # in (0, 1]
    sigma_abs = 1.0 / (1.0 + e)  # sigma(|z|)
    return np.where(z >= 0, sigma_abs, e * sigma_abs)  # sigma(-|z|) = exp(-|z|) * sigma(|z|)


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


def cross_entropy_grad(logits: np.ndarray, y: np.ndarray) -> np.ndarray:
    """dE/dz of the mean cross-entropy with respect to the logits: (p - onehot(y)) / B.

    The softmax Jacobian and the derivative of -log p_y cancel to this one expression, which is
    why the softmax and the loss are fused here rather than differentiated separately.
    """
    delta = softmax(logits)
    delta[np.arange(len(y)), y] -= 1.0  # p - y, with y one-hot
    delta /= len(y)
    return delta


def onehot(y: np.ndarray, n_classes: int, dtype: np.dtype | type = np.float64) -> np.ndarray:
    """The one-hot matrix Y with Y[i, y_i] = 1, for readers who want `p - Y` spelled out."""
    Y = np.zeros((len(y), n_classes), dtype=dtype)
    Y[np.arange(len(y)), y] = 1.0
    return Y


@dataclass(frozen=True)
class Activation:
    """A hidden-layer nonlinearity and its derivative expressed through its own output."""

    name: str
    fn: Callable[[np.ndarray], np.ndarray]
    derivative_from_output: Callable[[np.ndarray], np.ndarray]


ACTIVATIONS: dict[str, Activation] = {
    "sigmoid": Activation("sigmoid", sigmoid, sigmoid_derivative),
}


def get_activation(name: str) -> Activation:
    """Look an activation up by name; an unknown name lists the known ones."""
    try:
        return ACTIVATIONS[name]
    except KeyError:
        known = ", ".join(sorted(ACTIVATIONS))
        raise ValueError(f"unknown activation {name!r}; choose one of: {known}") from None
