"""Adam (Kingma and Ba, 2015), and AdamW, its variant with decoupled weight decay."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from mlp.hyperparams import fraction, lr, non_negative, positive
from mlp.optimizers.base import Optimizer


class Adam(Optimizer):
    """Adam, as in Kingma & Ba (2015), Algorithm 1, and as PyTorch implements it.

        m <- beta1 m + (1 - beta1) g           v <- beta2 v + (1 - beta2) g^2
        m_hat = m / (1 - beta1^t)              v_hat = v / (1 - beta2^t)
        theta <- theta - lr m_hat / (sqrt(v_hat) + eps)

    (scikit-learn's Adam differs: it adds eps to sqrt(v) before the bias correction.)
    """

    name = "adam"
    PARAMS = (
        lr(0.001),
        fraction("beta1", 0.9, "decay rate of the mean of the gradients"),
        fraction("beta2", 0.999, "decay rate of the mean of their squares"),
        positive("eps", 1e-8, "added to sqrt(v_hat): the step stays finite where v is 0"),
    )
    STATE = ("t", "m", "v")
    EQUATION = (
        "m <- b1 m + (1 - b1) g; v <- b2 v + (1 - b2) g^2; "
        "theta <- theta - lr m_hat / (sqrt(v_hat) + eps)"
    )
    beta1: float
    beta2: float
    eps: float
    t: int | None
    m: np.ndarray | None
    v: np.ndarray | None

    @classmethod
    def memory_vectors(cls, hyperparameters: dict[str, Any]) -> int:
        """m, v and two temporaries of the update."""
        return 4

    def step(self, params: np.ndarray, grad: np.ndarray) -> None:
        """Apply one update to `params` in place."""
        if self.m is None or self.v is None:
            self.t, self.m, self.v = 0, np.zeros_like(params), np.zeros_like(params)
        self.t += 1
        m, v = self.m, self.v
        m *= self.beta1
        m += (1.0 - self.beta1) * grad  # m <- beta1 m + (1 - beta1) g
        v *= self.beta2
        v += (1.0 - self.beta2) * grad * grad  # v <- beta2 v + (1 - beta2) g^2
        bias1 = 1.0 - self.beta1**self.t  # m_hat = m / bias1
        bias2 = 1.0 - self.beta2**self.t  # v_hat = v / bias2
        # theta <- theta - lr m_hat / (sqrt(v_hat) + eps), arranged as PyTorch does it:
        # (lr / bias1) m / (sqrt(v) / sqrt(bias2) + eps), the same to rounding.
        params -= (self.lr / bias1) * m / (np.sqrt(v) / math.sqrt(bias2) + self.eps)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov and Hutter), by PyTorch's formula.

        theta <- theta - lr lambda theta        on the weights, not the biases
        theta <- theta - lr m_hat / (sqrt(v_hat) + eps)   (Adam's step, as above)

    The decay is applied to the weights directly instead of adding lambda theta to the
    gradient, where Adam's scaling by 1 / sqrt(v_hat) would weaken it for weights with large
    gradients; so the objective's own L2 term (`train.weight_decay`) must be 0 with AdamW.
    """

    name = "adamw"
    PARAMS = (
        *Adam.PARAMS,
        non_negative("weight_decay", 0.01, "lambda: each step shrinks the weights by lr lambda"),
    )
    decoupled_weight_decay = True
    EQUATION = "W <- W - lr lambda W (weights only); then Adam's step"
    weight_decay: float
    weight_mask: np.ndarray | None = None  # True on weights, False on biases (from `bind`)

    @classmethod
    def memory_vectors(cls, hyperparameters: dict[str, Any]) -> int:
        """Adam's, the decay's temporary, and the weight mask (counted as a whole vector)."""
        return super().memory_vectors(hyperparameters) + 2

    def bind(self, weight_mask: np.ndarray) -> None:
        """Decay only the entries that are weights."""
        self.weight_mask = weight_mask

    def step(self, params: np.ndarray, grad: np.ndarray) -> None:
        """Decay the weights, then take Adam's step."""
        if self.weight_mask is None:
            raise RuntimeError("AdamW decays weights, not biases: call bind(model.weight_mask)")
        params -= (self.lr * self.weight_decay) * (params * self.weight_mask)  # weights only
        super().step(params, grad)
