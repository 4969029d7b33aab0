"""RMSprop (Tieleman and Hinton, 2012) as PyTorch implements it."""

from __future__ import annotations

from typing import Any

import numpy as np

from mlp.hyperparams import fraction, lr, positive
from mlp.optimizers.base import Optimizer


class RMSprop(Optimizer):
    """Each step divided by a running root mean square of the gradients, as PyTorch's RMSprop.

        v <- alpha v + (1 - alpha) g^2
        theta <- theta - lr g / (sqrt(v) + eps)                    (momentum 0)
        b <- mu b + g / (sqrt(v) + eps);  theta <- theta - lr b    (momentum mu > 0)

    eps is added outside the square root, as PyTorch does (Keras adds it inside).
    """

    name = "rmsprop"
    PARAMS = (
        lr(0.01),
        fraction("alpha", 0.99, "decay rate of the mean of the squared gradients"),
        positive("eps", 1e-8, "added to sqrt(v): the step stays finite where v is 0"),
        fraction("momentum", 0.0, "mu, the fraction of the last step kept"),
    )
    STATE = ("v", "buffer")
    EQUATION = "v <- alpha v + (1 - alpha) g^2; theta <- theta - lr g / (sqrt(v) + eps)"
    alpha: float
    eps: float
    momentum: float
    v: np.ndarray | None
    buffer: np.ndarray | None

    @classmethod
    def memory_vectors(cls, hyperparameters: dict[str, Any]) -> int:
        """v, two temporaries of the scaled gradient, and with momentum the buffer."""
        return 3 + (hyperparameters["momentum"] > 0)

    def step(self, params: np.ndarray, grad: np.ndarray) -> None:
        """Apply one update to `params` in place."""
        if self.v is None:
            self.v = np.zeros_like(params)
        v = self.v
        v *= self.alpha
        v += (1.0 - self.alpha) * grad * grad  # v <- alpha v + (1 - alpha) g^2
        scaled = grad / (np.sqrt(v) + self.eps)  # g / (sqrt(v) + eps)
        if self.momentum == 0:
            params -= self.lr * scaled
            return
        if self.buffer is None:
            self.buffer = np.zeros_like(params)
        self.buffer *= self.momentum
        self.buffer += scaled  # b <- mu b + g / (sqrt(v) + eps)
        params -= self.lr * self.buffer
