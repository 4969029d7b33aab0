"""One training step, every quantity of the derivation in docs/math.md, in its order.

`explain_step` takes the same step training takes (the model's own forward and backward
passes, the optimizer's own update) on a few rows, and returns what each equation gives on
the way: the input, each layer's z and a, the head's output and loss, each delta going back,
each gradient, and the update. It changes the model and the optimizer exactly as that step
of training would. `mlp explain` shows the list; its tests check every entry against NumPy
written out by hand and the gradients against finite differences.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mlp.network import MLP
from mlp.optimizers import Optimizer

# Where in docs/math.md each kind of quantity is derived; a head's output, loss and delta_L
# in its own sections.
SECTIONS = {"forward": "1", "delta": "6", "gradient": "5", "update": "8"}
HEAD_SECTIONS = {"softmax": ("2", "3", "4"), "identity": ("10", "10", "10")}


@dataclass(frozen=True)
class Quantity:
    """One line of the derivation: its name and equation as docs/math.md writes them, the
    section that derives it, and its value (an array; a 0-d one for a number)."""

    name: str
    equation: str
    section: str
    value: np.ndarray


def explain_step(
    model: MLP,
    optimizer: Optimizer,
    X: np.ndarray,
    y: np.ndarray,
    *,
    weight_decay: float = 0.0,
    sample_weight: np.ndarray | None = None,
) -> list[Quantity]:
    """The quantities of one step on the rows (X, y), in the order of the derivation; the
    step is taken (`model.params` and the optimizer's state move as in training)."""
    X = np.ascontiguousarray(X, dtype=model.dtype)
    zs, activations = model.forward(X)
    trace = [*_forward(model, X, zs, activations), _targets(model, y)]
    head, L = model.head, model.n_layers
    deltas: list[np.ndarray] = []
    loss, grad = model.backward(zs, activations, y, weight_decay, sample_weight, deltas=deltas)
    grad = grad.copy()  # backward's own buffer; the optimizer's step may evaluate it again
    penalty = " + (lambda/2) sum_l ||W_l||^2" if weight_decay else ""
    objective = loss + model.penalty(weight_decay)
    sections = HEAD_SECTIONS.get(head.name, ("", "", ""))
    loss_equation, delta_equation = head.equations[1:]
    if sample_weight is not None:  # the weighted objective the trainer minimises
        loss_equation = "E = sum_i w_i E_i / sum_i w_i (sample weights w)"
        delta_equation = f"delta_L = w_i ({head.symbol}_i - y_i) / sum_i w_i"
    trace.append(Quantity("E", loss_equation + penalty, sections[1], np.array(objective)))
    for l, delta in zip(range(L, 0, -1), deltas):  # noqa: E741  (l as in the maths)
        if l == L:
            equation, section = delta_equation, sections[2]
        else:
            act = model.activation.name
            equation = f"delta_{l} = (delta_{l + 1} W_{l + 1}^T) * {act}'(z_{l})"
            section = SECTIONS["delta"]
        trace.append(Quantity(f"delta_{l}", equation, section, delta))
    grad_weights, grad_biases = model.unflatten(grad)
    decay = " + lambda W_{l}" if weight_decay else ""
    for l in range(L, 0, -1):  # noqa: E741
        trace += [
            Quantity(
                f"dE/dW_{l}",
                f"dE/dW_{l} = a_{l - 1}^T delta_{l}" + decay.replace("{l}", str(l)),
                SECTIONS["gradient"],
                grad_weights[l - 1].copy(),
            ),
            Quantity(
                f"dE/db_{l}",
                f"dE/db_{l} = 1^T delta_{l}",
                SECTIONS["gradient"],
                grad_biases[l - 1].copy(),
            ),
        ]
    return trace + _update(model, optimizer, grad, X, y, weight_decay, sample_weight)


def _forward(model: MLP, X: np.ndarray, zs: list, activations: list) -> list[Quantity]:
    """a_0 = x, then z_l and a_l of each layer, then the head's output."""
    trace = [Quantity("a_0", "a_0 = x", SECTIONS["forward"], X.copy())]
    for l in range(1, model.n_layers + 1):  # noqa: E741
        equation = f"z_{l} = a_{l - 1} W_{l} + b_{l}"
        trace.append(Quantity(f"z_{l}", equation, SECTIONS["forward"], zs[l - 1]))
        if l < model.n_layers:
            equation = f"a_{l} = {model.activation.name}(z_{l})"
            trace.append(Quantity(f"a_{l}", equation, SECTIONS["forward"], activations[l]))
    head = model.head
    section = HEAD_SECTIONS.get(head.name, ("",))[0]
    return [*trace, Quantity(head.symbol, head.equations[0], section, head.output(zs[-1]))]


def _targets(model: MLP, y: np.ndarray) -> Quantity:
    """y as the loss sees it: one-hot rows of the labels, or the (standardised) targets."""
    y = np.asarray(y)
    if model.head.targets == "classes":
        onehot = np.zeros((len(y), model.layer_sizes[-1]))
        onehot[np.arange(len(y)), y] = 1.0
        return Quantity("y", "y = onehot(label)", "3", onehot)
    return Quantity("y", "y: the targets, as trained on", "10", y.astype(np.float64))


def _update(model, optimizer, grad, X, y, weight_decay, sample_weight) -> list[Quantity]:
    """The optimizer's step: its change to each W_l and b_l, and the weights after it. An
    L-BFGS iteration also gives its two-loop direction p and its line search's step alpha."""
    before = model.params.copy()
    trace = []
    if optimizer.full_batch:

        def objective() -> tuple[float, np.ndarray]:
            zs, activations = model.forward(X)
            loss, g = model.backward(zs, activations, y, weight_decay, sample_weight)
            return loss + model.penalty(weight_decay), g

        optimizer.iterate(model.params, objective)
        direction = getattr(optimizer, "direction", None)
        if direction is not None:
            trace.append(Quantity("p", "p = -H g (two-loop recursion)", "8a", direction.copy()))
        step = np.array(optimizer.lr)
        trace.append(Quantity("alpha", "alpha: strong-Wolfe line search along p", "8a", step))
    else:
        optimizer.step(model.params, grad)
    change_weights, change_biases = model.unflatten(model.params - before)
    equation = type(optimizer).EQUATION
    for l in range(1, model.n_layers + 1):  # noqa: E741
        trace += [
            Quantity(f"dW_{l}", f"dW_{l}: {equation}", SECTIONS["update"], change_weights[l - 1]),
            Quantity(f"db_{l}", f"db_{l}: {equation}", SECTIONS["update"], change_biases[l - 1]),
            Quantity(
                f"W_{l} after",
                f"W_{l} <- W_{l} + dW_{l}",
                SECTIONS["update"],
                model.weights[l - 1].copy(),
            ),
            Quantity(
                f"b_{l} after",
                f"b_{l} <- b_{l} + db_{l}",
                SECTIONS["update"],
                model.biases[l - 1].copy(),
            ),
        ]
    return trace
