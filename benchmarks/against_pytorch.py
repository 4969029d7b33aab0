"""mlp's losses, gradients and optimizer trajectories against PyTorch's, in float64.

    pip install torch && python benchmarks/against_pytorch.py

The same weights go into both; each line prints the largest difference. Not part of the test
suite (PyTorch is never a dependency of mlp): the suite checks the same things against
finite differences, hand calculation and scikit-learn.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mlp import LBFGS, MLP, SGD, Adam, AdamW, RMSprop, fit

torch.set_default_dtype(torch.float64)
ACTIVATIONS = {"sigmoid": torch.nn.Sigmoid, "tanh": torch.nn.Tanh, "relu": torch.nn.ReLU}


def torch_copy(model: MLP, activation: str) -> torch.nn.Sequential:
    """The same network in PyTorch (whose Linear stores W transposed)."""
    layers: list[torch.nn.Module] = []
    for W, b in zip(model.weights, model.biases):
        linear = torch.nn.Linear(*W.shape)
        with torch.no_grad():
            linear.weight.copy_(torch.tensor(W.T))
            linear.bias.copy_(torch.tensor(b))
        layers += [linear, ACTIVATIONS[activation]()]
    return torch.nn.Sequential(*layers[:-1])


def flat(net: torch.nn.Sequential, grads: bool = False) -> np.ndarray:
    """Parameters (or their gradients) in mlp's flat order: W1, b1, W2, b2, ..."""
    parts = []
    for layer in net:
        if isinstance(layer, torch.nn.Linear):
            W, b = (layer.weight.grad, layer.bias.grad) if grads else (layer.weight, layer.bias)
            parts += [W.detach().numpy().T.ravel(), b.detach().numpy()]
    return np.concatenate(parts)


def main() -> None:
    X, y = load_digits(return_X_y=True)
    X, y = StandardScaler().fit_transform(X)[:320], y[:320]
    weight_decay = 0.01
    for activation in ACTIVATIONS:
        for sizes in ([64, 10], [64, 32, 10], [64, 48, 32, 10]):
            model = MLP(sizes, np.random.default_rng(0), activation=activation)
            net = torch_copy(model, activation)
            loss, grad = model.loss_and_grad(X[:32], y[:32], weight_decay)
            theirs = torch.nn.functional.cross_entropy(
                net(torch.tensor(X[:32])), torch.tensor(y[:32])
            )
            penalty = sum((m.weight**2).sum() for m in net if isinstance(m, torch.nn.Linear))
            (theirs + 0.5 * weight_decay * penalty).backward()
            print(
                f"{activation:7s} {sizes}: loss differs by "
                f"{abs(loss - (theirs + 0.5 * weight_decay * penalty).item()):.1e}, "
                f"gradient by at most {np.abs(grad - flat(net, grads=True)).max():.1e}"
            )
    optimizers = [
        ("sgd momentum", lambda: SGD(0.1, 0.9), lambda p: torch.optim.SGD(p, 0.1, momentum=0.9)),
        (
            "sgd nesterov",
            lambda: SGD(0.1, 0.9, nesterov=True),
            lambda p: torch.optim.SGD(p, 0.1, momentum=0.9, nesterov=True),
        ),
        ("adam", lambda: Adam(0.01), lambda p: torch.optim.Adam(p, lr=0.01)),
        (
            "adamw",
            lambda: AdamW(0.01, weight_decay=0.1),
            lambda p: torch.optim.AdamW(decayed_groups(p, 0.1), lr=0.01),
        ),
        ("rmsprop", lambda: RMSprop(0.001), lambda p: torch.optim.RMSprop(p, lr=0.001)),
        (
            "rmsprop momentum",
            lambda: RMSprop(0.001, momentum=0.9),
            lambda p: torch.optim.RMSprop(p, lr=0.001, momentum=0.9),
        ),
    ]
    for name, ours, theirs in optimizers:
        model = MLP([64, 32, 10], np.random.default_rng(1))
        net = torch_copy(model, "sigmoid")
        optimizer, torch_optimizer = ours(), theirs(net.parameters())
        optimizer.bind(model.weight_mask)
        for step in range(100):
            rows = slice(step * 32 % 320, step * 32 % 320 + 32)
            _, grad = model.loss_and_grad(X[rows], y[rows])
            optimizer.step(model.params, grad)
            torch_optimizer.zero_grad()
            out = net(torch.tensor(X[rows]))
            torch.nn.functional.cross_entropy(out, torch.tensor(y[rows])).backward()
            torch_optimizer.step()
        difference = np.abs(model.params - flat(net)).max()
        print(f"{name}: weights after 100 steps differ by at most {difference:.1e}")
    compare_lbfgs(X, y)
    compare_regression(X)


def compare_regression(X: np.ndarray) -> None:
    """The identity head: loss, gradient and 100 SGD steps against torch's MSELoss.

    mlp's E = 1/(2B) sum ||y_hat - y||^2 is torch's MSELoss(reduction="sum") / (2B).
    """
    rng = np.random.default_rng(2)
    y = rng.normal(size=(len(X), 2))
    model = MLP([64, 32, 2], np.random.default_rng(3), head="identity")
    net = torch_copy(model, "sigmoid")

    def torch_loss(rows):
        out = net(torch.tensor(X[rows]))
        target = torch.tensor(y[rows])
        return torch.nn.functional.mse_loss(out, target, reduction="sum") / (2 * len(target))

    loss, grad = model.loss_and_grad(X[:32], y[:32])
    theirs = torch_loss(slice(0, 32))
    theirs.backward()
    print(
        f"identity head: loss differs by {abs(loss - theirs.item()):.1e}, gradient by at most "
        f"{np.abs(grad - flat(net, grads=True)).max():.1e}"
    )
    optimizer, torch_optimizer = (
        SGD(0.05, 0.9),
        torch.optim.SGD(net.parameters(), 0.05, momentum=0.9),
    )
    optimizer.bind(model.weight_mask)
    for step in range(100):
        rows = slice(step * 32 % 320, step * 32 % 320 + 32)
        _, grad = model.loss_and_grad(X[rows], y[rows])
        optimizer.step(model.params, grad)
        torch_optimizer.zero_grad()
        torch_loss(rows).backward()
        torch_optimizer.step()
    difference = np.abs(model.params - flat(net)).max()
    print(
        f"identity head, sgd momentum: weights after 100 steps differ by at most {difference:.1e}"
    )


def decayed_groups(parameters, weight_decay: float) -> list[dict]:
    """PyTorch parameter groups that decay the weight matrices and not the biases, as mlp does."""
    parameters = list(parameters)
    return [
        {"params": [p for p in parameters if p.ndim == 2], "weight_decay": weight_decay},
        {"params": [p for p in parameters if p.ndim == 1], "weight_decay": 0.0},
    ]


def torch_lbfgs(net, X: np.ndarray, y: np.ndarray, weight_decay: float, iterations: int) -> float:
    """torch.optim.LBFGS with a strong-Wolfe line search and scikit-learn's stopping rules."""
    optimizer = torch.optim.LBFGS(
        net.parameters(),
        max_iter=iterations,
        max_eval=15000,
        history_size=10,
        tolerance_grad=1e-4,
        tolerance_change=2.2e-9,
        line_search_fn="strong_wolfe",
    )
    X_t, y_t = torch.tensor(X), torch.tensor(y)

    def closure():
        optimizer.zero_grad()
        penalty = sum((m.weight**2).sum() for m in net if isinstance(m, torch.nn.Linear))
        loss = torch.nn.functional.cross_entropy(net(X_t), y_t) + 0.5 * weight_decay * penalty
        loss.backward()
        return loss

    optimizer.step(closure)
    return closure().item()


def compare_lbfgs(X: np.ndarray, y: np.ndarray) -> None:
    """The objective L-BFGS reaches from the same weights, ours and torch.optim.LBFGS's.

    PyTorch's L-BFGS is another implementation of the same method (its own line search and
    stopping rules), so the trajectories differ; the objectives reached should not, by much.
    """
    weight_decay = 1e-3
    for iterations in (10, 50, 200):
        model = MLP([64, 32, 10], np.random.default_rng(2))
        net = torch_copy(model, "sigmoid")
        fit(
            model,
            LBFGS(),
            X,
            y,
            epochs=iterations,
            batch_size=len(X),
            rng=None,
            weight_decay=weight_decay,
        )
        ours = model.loss(X, y, weight_decay)
        theirs = torch_lbfgs(net, X, y, weight_decay, iterations)
        print(
            f"lbfgs, {iterations} iterations: objective {ours:.6f} (ours) vs {theirs:.6f} "
            f"(torch), ratio {ours / theirs:.4f}"
        )


if __name__ == "__main__":
    main()
