"""Stochastic gradient descent with classical or Nesterov momentum, as scikit-learn's MLP."""

from __future__ import annotations

from typing import Any

import numpy as np

from mlp.hyperparams import HyperparameterError, Param, fraction, lr
from mlp.optimizers.base import Optimizer


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with classical or Nesterov momentum.

    With a constant learning rate the update rules are scikit-learn's MLPClassifier's:
        v <- mu v - lr g
        theta <- theta + v                  (classical)
        theta <- theta + mu v - lr g        (Nesterov, with the new v)
    With mu = 0 both reduce to plain gradient descent theta <- theta - lr g.
    """

    name = "sgd"
    PARAMS = (
        lr(0.1),
        fraction("momentum", 0.9, "mu, the fraction of the last update kept (scikit-learn's 0.9)"),
        Param("nesterov", False, bool, help="look ahead along the velocity (needs momentum > 0)"),
    )
    STATE = ("velocity",)
    EQUATION = "v <- mu v - lr g; theta <- theta + v (mu = 0: theta <- theta - lr g)"
    momentum: float
    nesterov: bool
    velocity: np.ndarray | None

    @classmethod
    def validate(cls, hyperparameters: dict[str, Any]) -> dict[str, Any]:
        """The declared checks, and Nesterov's need for momentum."""
        values = super().validate(hyperparameters)
        if values["nesterov"] and values["momentum"] == 0:
            raise HyperparameterError("nesterov", "true needs momentum > 0")
        return values

    @classmethod
    def memory_vectors(cls, hyperparameters: dict[str, Any]) -> int:
        """lr g (a temporary), and with momentum the velocity."""
        return 1 + (hyperparameters["momentum"] > 0)

    def step(self, params: np.ndarray, grad: np.ndarray) -> None:
        """Apply one update to `params` in place."""
        if self.momentum == 0:
            params -= self.lr * grad  # theta <- theta - lr g
            return
        if self.velocity is None:
            self.velocity = np.zeros_like(params)
        v = self.velocity
        v *= self.momentum
        v -= self.lr * grad  # v <- mu v - lr g
        if self.nesterov:
            params += self.momentum * v - self.lr * grad  # theta <- theta + mu v - lr g
        else:
            params += v  # theta <- theta + v
