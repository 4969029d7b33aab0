"""Checking backpropagation against centred finite differences, one parameter at a time.

For each checked entry theta_i the numerical derivative is

    n_i = (E(theta + h e_i) - E(theta - h e_i)) / (2 h)

(error O(h^2)), compared with the analytic a_i from `MLP.backward` by the relative error

    r_i = |a_i - n_i| / max(|a_i| + |n_i|, tiny)

All of it runs in float64 on a float64 copy of the model, whatever the model's own dtype.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mlp.network import MLP

# The floor of the relative error's denominator. Centred differences of a float64 loss of order 1
# are accurate to about eps_64 / h + h^2 ~ 1e-11 at h = 1e-5 (measured: up to 4e-11 on digits), so
# an entry whose derivative is itself ~1e-5 cannot be checked to a relative 1e-7. Below the floor
# the comparison becomes an absolute one, |a - n| / 1e-3, which still exposes any real mistake:
# a wrong formula is off by a sizeable fraction of the gradient, not by 1e-11. With a truly tiny
# floor, correct backprop "fails" on every network that has a near-zero gradient entry.
DEFAULT_TINY = 1e-3


@dataclass(frozen=True)
class ArrayCheck:
    """The result for one parameter array (W1, b1, ...)."""

    name: str
    shape: tuple[int, ...]
    n_checked: int
    max_rel_error: float
    worst_index: tuple[int, ...]  # where max_rel_error occurs, as an index into the array
    analytic: float  # a_i and n_i at that index
    numerical: float


def relative_error(analytic: np.ndarray, numerical: np.ndarray, tiny: float) -> np.ndarray:
    """r = |a - n| / max(|a| + |n|, tiny), element-wise."""
    return np.abs(analytic - numerical) / np.maximum(np.abs(analytic) + np.abs(numerical), tiny)


def numerical_gradient(
    model: MLP,
    X: np.ndarray,
    y: np.ndarray,
    indices: np.ndarray,
    *,
    eps: float = 1e-5,
    weight_decay: float = 0.0,
    sample_weight: np.ndarray | None = None,
) -> np.ndarray:
    """Centred differences of the objective (weighted by `sample_weight` when given) for the
    flat parameter indices given."""
    params = model.params
    numerical = np.empty(len(indices))
    weighted = () if sample_weight is None else (sample_weight,)
    for k, i in enumerate(indices):
        original = params[i]
        params[i] = original + eps
        loss_plus = model.loss(X, y, weight_decay, *weighted)
        params[i] = original - eps
        loss_minus = model.loss(X, y, weight_decay, *weighted)
        params[i] = original  # restore exactly, not by adding eps back
        numerical[k] = (loss_plus - loss_minus) / (2 * eps)
    return numerical


def gradient_check(
    model: MLP,
    X: np.ndarray,
    y: np.ndarray,
    *,
    eps: float = 1e-5,
    weight_decay: float = 0.0,
    max_entries: int | None = None,
    rng: np.random.Generator | None = None,
    tiny: float = DEFAULT_TINY,
    sample_weight: np.ndarray | None = None,
) -> list[ArrayCheck]:
    """Compare analytic and numerical gradients for every parameter array of `model`.

    Every entry is checked unless an array has more than `max_entries`, in which case that many
    entries are sampled without replacement with `rng`. The model is not modified. With
    `sample_weight`, the objective checked is the weighted one the trainer then minimises.
    """
    if not eps > 0:
        raise ValueError(f"eps must be > 0, got {eps}")
    if max_entries is not None and (max_entries < 1 or rng is None):
        raise ValueError("max_entries needs to be >= 1 and comes with an rng to sample with")
    model = model.copy(np.float64)
    X = np.asarray(X, dtype=np.float64)
    weighted = () if sample_weight is None else (sample_weight,)
    _, analytic = model.loss_and_grad(X, y, weight_decay, *weighted)
    index_of = model.named_arrays(np.arange(model.n_params))  # flat index of every entry
    results = []
    for name, flat_indices in index_of.items():
        candidates = flat_indices.ravel()
        if max_entries is not None and len(candidates) > max_entries:
            candidates = np.sort(rng.choice(candidates, size=max_entries, replace=False))
        numerical = numerical_gradient(
            model,
            X,
            y,
            candidates,
            eps=eps,
            weight_decay=weight_decay,
            sample_weight=sample_weight,
        )
        errors = relative_error(analytic[candidates], numerical, tiny)
        worst = int(np.argmax(errors))
        results.append(
            ArrayCheck(
                name=name,
                shape=flat_indices.shape,
                n_checked=len(candidates),
                max_rel_error=float(errors[worst]),
                worst_index=tuple(
                    int(i) for i in np.argwhere(flat_indices == candidates[worst])[0]
                ),
                analytic=float(analytic[candidates[worst]]),
                numerical=float(numerical[worst]),
            )
        )
    return results
