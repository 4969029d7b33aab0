"""Gradient-descent optimizers that update a flat parameter vector in place.

Each one works on the whole network at once (`params` and `grad` are the flat vectors of
`MLP`), keeps its state in arrays of the parameters' dtype, and can save and restore that state.
"""

from __future__ import annotations

import math

import numpy as np


class SGD:
    """Stochastic gradient descent, optionally with classical or Nesterov momentum.

    With a constant learning rate the update rules are scikit-learn's MLPClassifier's:
        v <- mu v - lr g
        theta <- theta + v                  (classical)
        theta <- theta + mu v - lr g        (Nesterov, with the new v)
    With mu = 0 both reduce to plain gradient descent theta <- theta - lr g.
    """

    name = "sgd"

    def __init__(self, lr: float = 0.1, momentum: float = 0.0, nesterov: bool = False) -> None:
        """Make the optimizer; `lr` > 0, 0 <= `momentum` < 1; Nesterov needs momentum > 0."""
        if not lr > 0:
            raise ValueError(f"lr must be > 0, got {lr}")
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        if nesterov and momentum == 0:
            raise ValueError("nesterov momentum needs momentum > 0")
        self.lr = float(lr)
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self.velocity: np.ndarray | None = None
        self._scratch: np.ndarray | None = None  # reused for lr g and mu v

    def step(self, params: np.ndarray, grad: np.ndarray) -> None:
        """Apply one update to `params` in place (allocating nothing after the first step)."""
        if self._scratch is None:
            self._scratch = np.empty_like(params)
        lr_grad = np.multiply(grad, self.lr, out=self._scratch)  # lr g
        if self.momentum == 0:
            params -= lr_grad  # theta <- theta - lr g
            return
        if self.velocity is None:
            self.velocity = np.zeros_like(params)
        v = self.velocity
        v *= self.momentum
        v -= lr_grad  # v <- mu v - lr g
        if self.nesterov:
            params -= lr_grad
            params += np.multiply(v, self.momentum, out=self._scratch)  # theta + mu v - lr g
        else:
            params += v  # theta <- theta + v

    def state_dict(self) -> dict[str, np.ndarray]:
        """Everything `load_state_dict` needs to continue exactly where this optimizer is."""
        state = {"lr": np.asarray(self.lr), "momentum": np.asarray(self.momentum)}
        state["nesterov"] = np.asarray(self.nesterov)
        if self.velocity is not None:
            state["velocity"] = self.velocity.copy()
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Restore a state saved by `state_dict`."""
        self.lr = float(state["lr"])
        self.momentum = float(state["momentum"])
        self.nesterov = bool(state["nesterov"])
        self.velocity = np.array(state["velocity"]) if "velocity" in state else None


class Adam:
    """Adam, as in Kingma & Ba (2015), Algorithm 1, and as PyTorch implements it.

        m <- beta1 m + (1 - beta1) g           v <- beta2 v + (1 - beta2) g^2
        m_hat = m / (1 - beta1^t)              v_hat = v / (1 - beta2^t)
        theta <- theta - lr m_hat / (sqrt(v_hat) + eps)

    (scikit-learn's Adam differs: it adds eps to sqrt(v) before the bias correction.)
    """

    name = "adam"

    def __init__(
        self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8
    ) -> None:
        """Make the optimizer; `lr` > 0, betas in [0, 1), `eps` > 0."""
        if not lr > 0:
            raise ValueError(f"lr must be > 0, got {lr}")
        for key, beta in (("beta1", beta1), ("beta2", beta2)):
            if not 0 <= beta < 1:
                raise ValueError(f"{key} must be in [0, 1), got {beta}")
        if not eps > 0:
            raise ValueError(f"eps must be > 0, got {eps}")
        self.lr, self.beta1, self.beta2, self.eps = (
            float(lr),
            float(beta1),
            float(beta2),
            float(eps),
        )
        self.t = 0
        self.m: np.ndarray | None = None
        self.v: np.ndarray | None = None
        self._scratch: tuple[np.ndarray, np.ndarray] | None = None

    def step(self, params: np.ndarray, grad: np.ndarray) -> None:
        """Apply one update to `params` in place."""
        if self.m is None or self.v is None:
            self.m, self.v = np.zeros_like(params), np.zeros_like(params)
        if self._scratch is None:
            self._scratch = np.empty_like(params), np.empty_like(params)
        self.t += 1
        m, v = self.m, self.v
        g_scaled, denom = self._scratch
        m *= self.beta1
        m += np.multiply(grad, 1.0 - self.beta1, out=g_scaled)  # m <- beta1 m + (1 - beta1) g
        v *= self.beta2
        np.multiply(grad, grad, out=g_scaled)
        g_scaled *= 1.0 - self.beta2
        v += g_scaled  # v <- beta2 v + (1 - beta2) g^2
        bias1 = 1.0 - self.beta1**self.t  # m_hat = m / bias1
        bias2 = 1.0 - self.beta2**self.t  # v_hat = v / bias2
        # theta <- theta - lr m_hat / (sqrt(v_hat) + eps), arranged as PyTorch does it:
        # (lr / bias1) m / (sqrt(v) / sqrt(bias2) + eps), which touches each vector fewer times.
        np.sqrt(v, out=denom)
        denom /= math.sqrt(bias2)
        denom += self.eps
        step = np.divide(m, denom, out=g_scaled)
        step *= self.lr / bias1
        params -= step

    def state_dict(self) -> dict[str, np.ndarray]:
        """Everything `load_state_dict` needs to continue exactly where this optimizer is."""
        state = {name: np.asarray(getattr(self, name)) for name in ("lr", "beta1", "beta2", "eps")}
        state["t"] = np.asarray(self.t)
        if self.m is not None and self.v is not None:
            state["m"], state["v"] = self.m.copy(), self.v.copy()
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Restore a state saved by `state_dict`."""
        self.lr, self.beta1 = float(state["lr"]), float(state["beta1"])
        self.beta2, self.eps = float(state["beta2"]), float(state["eps"])
        self.t = int(state["t"])
        self.m = np.array(state["m"]) if "m" in state else None
        self.v = np.array(state["v"]) if "v" in state else None


Optimizer = SGD | Adam

OPTIMIZERS: dict[str, type[SGD] | type[Adam]] = {"sgd": SGD, "adam": Adam}


def make_optimizer(name: str, **hyperparameters: float | bool) -> Optimizer:
    """Build an optimizer by name; an unknown name lists the known ones."""
    try:
        cls = OPTIMIZERS[name]
    except KeyError:
        known = ", ".join(sorted(OPTIMIZERS))
        raise ValueError(f"unknown optimizer {name!r}; choose one of: {known}") from None
    return cls(**hyperparameters)
