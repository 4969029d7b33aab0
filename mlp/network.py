"""The multilayer perceptron: hidden layers of one activation and an output head (mlp/heads.py).

Conventions (as in scikit-learn): rows of `X` are samples; layer l maps a_{l-1} to
z_l = a_{l-1} @ W_l + b_l with W_l of shape (fan_in, fan_out) and b_l of shape (fan_out,);
a_l = activation(z_l) on hidden layers, and the top z_L are the logits, which the head turns
into its output (softmax probabilities, or the values themselves for regression).

All parameters live in one flat vector, `params`; `weights[l - 1]` and `biases[l - 1]`
(W_l and b_l) are views into it. The gradient, `grad`, has the same layout, so an optimizer
updates the whole network with a handful of vector operations and the gradient check walks one
array.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mlp.functions import DEFAULT_ACTIVATION, get_activation
from mlp.heads import DEFAULT_HEAD, check_class_indices, get_head

DTYPES = ("float64", "float32")


def _check_layer_sizes(layer_sizes: Sequence[int]) -> tuple[int, ...]:
    sizes = tuple(layer_sizes)
    if len(sizes) < 2:
        raise ValueError(f"layer_sizes needs at least an input and an output size, got {sizes}")
    for size in sizes:
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
            raise ValueError(f"layer sizes must be integers >= 1, got {sizes}")
    return tuple(int(s) for s in sizes)


def _check_dtype(dtype: np.dtype | type | str) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype.name not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype.name}")
    return dtype


# Kept under its old name for callers that check class labels without a model.
check_labels = check_class_indices


class MLP:
    """A fully connected network described by its layer sizes `[d, h1, ..., hk, K]`."""

    def __init__(
        self,
        layer_sizes: Sequence[int],
        rng: np.random.Generator,
        *,
        activation: str = DEFAULT_ACTIVATION,
        head: str = DEFAULT_HEAD,
        dtype: np.dtype | type | str = np.float64,
    ) -> None:
        """Build the network with Glorot/Xavier-uniform weights drawn from `rng`, biases 0.

        W_l ~ U(-r, r) with r = gain * sqrt(6 / (fan_in + fan_out)). For sigmoid the gain is 1,
        the value PyTorch's `calculate_gain("sigmoid")` gives; tanh (Glorot and Bengio's own
        case) uses 1 too, relu sqrt(2) (He et al.); the top layer, feeding the softmax, always
        1. Glorot and Bengio chose r so that activations and back-propagated gradients keep
        roughly the same variance from layer to layer. With gain 1 and standardised inputs the
        pre-activations start near sigmoid's linear range (std 0.8 for digits' 64 -> 128 layer);
        the gain of 4 sometimes quoted for sigmoid gives std ~3 there, where sigma' = a (1 - a)
        is ~0.04 instead of up to 0.25 and the first epochs crawl.
        """
        self.layer_sizes = _check_layer_sizes(layer_sizes)
        self.activation = get_activation(activation)
        self.head = get_head(head)
        self.dtype = _check_dtype(dtype)
        self._allocate()
        for layer, W in enumerate(self.weights, start=1):
            fan_in, fan_out = W.shape
            # the gain of the activation this layer feeds (1 for the head at the top)
            gain = self.activation.init_gain if layer < self.n_layers else 1.0
            limit = gain * np.sqrt(6.0 / (fan_in + fan_out))
            W[...] = rng.uniform(-limit, limit, size=W.shape)

    @classmethod
    def from_arrays(
        cls,
        weights: Sequence[np.ndarray],
        biases: Sequence[np.ndarray],
        *,
        activation: str = DEFAULT_ACTIVATION,
        head: str = DEFAULT_HEAD,
    ) -> MLP:
        """Rebuild a network from its arrays; the dtype is that of the first weight matrix."""
        if len(weights) != len(biases) or not weights:
            raise ValueError(
                f"need as many biases as weights, got {len(weights)} and {len(biases)}"
            )
        sizes = [weights[0].shape[0]] + [W.shape[1] for W in weights]
        model = cls.__new__(cls)
        model.layer_sizes = _check_layer_sizes(sizes)
        model.activation = get_activation(activation)
        model.head = get_head(head)
        model.dtype = _check_dtype(weights[0].dtype)
        model._allocate()
        for name, (dst, src) in zip(model.param_names, model._pairs(weights, biases)):
            if src.shape != dst.shape:
                raise ValueError(
                    f"{name} has shape {src.shape}, the architecture needs {dst.shape}"
                )
            dst[...] = src
        return model

    def _allocate(self) -> None:
        """The flat parameter vector, zeroed, and the flat gradient, with their views per layer.

        The gradient lives here, as PyTorch keeps `.grad` beside each parameter: `backward`
        writes it in place, so a training step allocates no gradient-sized array (the
        benchmark measured that at ~10% of a step on digits).
        """
        self.params = np.zeros(self.n_params, dtype=self.dtype)
        self.weights, self.biases = self.unflatten(self.params)
        self.grad = np.zeros(self.n_params, dtype=self.dtype)
        self.grad_weights, self.grad_biases = self.unflatten(self.grad)
        self._ones = np.ones(0, dtype=self.dtype)  # 1^T delta as one BLAS call (grown on use)

    def _pairs(self, weights, biases):
        for W_src, b_src, W, b in zip(weights, biases, self.weights, self.biases):
            yield W, np.asarray(W_src)
            yield b, np.asarray(b_src)

    # -- parameter layout -------------------------------------------------------------------

    @property
    def n_layers(self) -> int:
        """The number of weight matrices L (hidden layers + 1)."""
        return len(self.layer_sizes) - 1

    @property
    def n_params(self) -> int:
        """The total number of weights and biases."""
        return sum((m + 1) * n for m, n in zip(self.layer_sizes[:-1], self.layer_sizes[1:]))

    @property
    def param_names(self) -> list[str]:
        """The arrays' names in flat-vector order: W1, b1, W2, b2, ..."""
        return [f"{kind}{i}" for i in range(1, self.n_layers + 1) for kind in ("W", "b")]

    def unflatten(self, flat: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Views of a flat parameter-shaped vector as the lists [W1..WL] and [b1..bL]."""
        weights, biases, start = [], [], 0
        for fan_in, fan_out in zip(self.layer_sizes[:-1], self.layer_sizes[1:]):
            stop = start + fan_in * fan_out
            weights.append(flat[start:stop].reshape(fan_in, fan_out))
            biases.append(flat[stop : stop + fan_out])
            start = stop + fan_out
        return weights, biases

    def named_arrays(self, flat: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """{"W1": ..., "b1": ..., ...} as views of `flat` (default: the parameters)."""
        weights, biases = self.unflatten(self.params if flat is None else flat)
        arrays = [a for pair in zip(weights, biases) for a in pair]
        return dict(zip(self.param_names, arrays))

    def copy(self, dtype: np.dtype | type | str | None = None) -> MLP:
        """An independent copy, optionally converted to another dtype (e.g. float64 to check)."""
        weights = [W.astype(dtype or self.dtype) for W in self.weights]
        biases = [b.astype(dtype or self.dtype) for b in self.biases]
        return type(self).from_arrays(
            weights, biases, activation=self.activation.name, head=self.head.name
        )

    @property
    def weight_mask(self) -> np.ndarray:
        """A flat boolean vector, True where `params` holds a weight and False at a bias."""
        mask = np.zeros(self.n_params, dtype=bool)
        for W in self.unflatten(mask)[0]:
            W[...] = True
        return mask

    # -- forward and backward: the derivation in docs/math.md, one line per equation ----------

    def forward(self, X: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Every layer's pre-activations [z_1, ..., z_L] (z_L: the logits) and outputs
        [a_0 = X, a_1, ..., a_{L-1}]: backward needs both."""
        zs, activations = [], [X]
        for layer, (W, b) in enumerate(zip(self.weights, self.biases), start=1):
            z = activations[-1] @ W
            z += b  # z_l = a_{l-1} W_l + b_l (b added in place: one array, not two)
            zs.append(z)
            if layer < self.n_layers:
                activations.append(self.activation.fn(z))  # a_l = sigma(z_l)
        return zs, activations

    def backward(
        self,
        zs: list[np.ndarray],
        activations: list[np.ndarray],
        y: np.ndarray,
        weight_decay: float = 0.0,
        sample_weight: np.ndarray | None = None,
        deltas: list[np.ndarray] | None = None,
    ) -> tuple[float, np.ndarray]:
        """The head's mean loss E of a forward pass, and the flat gradient of the objective
        E + (weight_decay / 2) sum_l ||W_l||^2 (biases are not decayed). With `sample_weight`
        (one per row), E is the weighted mean sum_i w_i l_i / sum_i w_i. A `deltas` list
        receives a copy of each delta_l as it is computed, delta_L first (`mlp explain`).

        The gradient returned is `self.grad`, overwritten by the next call: copy it to keep it.
        """
        # (BP1) delta_L = (p - y) / B for softmax with cross-entropy, (y_hat - y) / B for the
        # identity with squared error; w_i (...) / sum w with sample weights
        loss, delta = self.head.loss_and_delta(zs[-1], y, sample_weight)
        if len(self._ones) < len(y):
            self._ones = np.ones(len(y), dtype=self.dtype)
        ones = self._ones[: len(y)]
        for l in range(self.n_layers, 0, -1):  # noqa: E741  (l = L, ..., 1, as in the maths)
            if deltas is not None:
                deltas.append(delta.copy())
            W, a_prev = self.weights[l - 1], activations[l - 1]
            grad_W, grad_b = self.grad_weights[l - 1], self.grad_biases[l - 1]
            np.matmul(a_prev.T, delta, out=grad_W)  # (BP4) dE/dW_l = a_{l-1}^T delta_l
            np.matmul(ones, delta, out=grad_b)  # (BP3) dE/db_l = 1^T delta_l
            if weight_decay:
                grad_W += weight_decay * W  # + d/dW (lambda/2)||W||^2 = lambda W
            if l > 1:  # (BP2) delta_{l-1} = (delta_l W_l^T) * sigma'(z_{l-1})
                delta = delta @ W.T
                delta *= self.activation.derivative(zs[l - 2], a_prev)
        return loss, self.grad

    def loss_and_grad(
        self,
        X: np.ndarray,
        y: np.ndarray,
        weight_decay: float = 0.0,
        sample_weight: np.ndarray | None = None,
    ) -> tuple[float, np.ndarray]:
        """The objective E + L2 penalty and its gradient (flat, in the layout of `params`; a
        new array, unlike `backward`'s); E weighted by `sample_weight` when given."""
        y = np.asarray(y)
        self.head.check_targets(y, self.layer_sizes[-1])
        loss, grad = self.backward(*self.forward(X), y, weight_decay, sample_weight)
        return loss + self.penalty(weight_decay), grad.copy()

    def penalty(self, weight_decay: float) -> float:
        """The L2 term (lambda / 2) sum_l ||W_l||^2 (weights only)."""
        if not weight_decay:
            return 0.0
        return 0.5 * weight_decay * float(sum(np.vdot(W, W) for W in self.weights))

    def loss(
        self,
        X: np.ndarray,
        y: np.ndarray,
        weight_decay: float = 0.0,
        sample_weight: np.ndarray | None = None,
    ) -> float:
        """The training objective: the head's mean loss (weighted by `sample_weight` when given:
        sum_i w_i l_i / sum_i w_i) plus the L2 penalty."""
        logits = self.logits(X)
        if sample_weight is None:
            return self.head.loss(logits, np.asarray(y)) + self.penalty(weight_decay)
        weighted, _ = self.head.loss_and_delta(logits, np.asarray(y), sample_weight)
        return weighted + self.penalty(weight_decay)

    def logits(self, X: np.ndarray) -> np.ndarray:
        """The top layer's pre-activations z_L for each row of X."""
        return self.forward(X)[0][-1]

    def __repr__(self) -> str:
        arch = " -> ".join(map(str, self.layer_sizes))
        return (
            f"MLP({arch}, activation={self.activation.name}, head={self.head.name}, "
            f"dtype={self.dtype.name})"
        )
