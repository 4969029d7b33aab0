"""The optimizers, one module each, and the registry that names them.

Each updates the network's flat parameter vector in place and declares its hyperparameters
(`PARAMS`) once; the config layer derives its schema from those declarations. Adding one is
a module here, a line in `OPTIMIZERS`, and its tests (docs/adding-an-optimizer.md).
"""

from __future__ import annotations

from typing import Any

from mlp.optimizers.adam import Adam, AdamW
from mlp.optimizers.base import Objective, Optimizer
from mlp.optimizers.lbfgs import LBFGS
from mlp.optimizers.rmsprop import RMSprop
from mlp.optimizers.sgd import SGD

OPTIMIZERS: dict[str, type[Optimizer]] = {
    cls.name: cls for cls in (SGD, Adam, AdamW, RMSprop, LBFGS)
}
# What a config without `train.optimizer.name` trains with: scikit-learn's MLP's own choice.
DEFAULT_OPTIMIZER = SGD.name


def optimizer_class(name: str) -> type[Optimizer]:
    """The optimizer class registered as `name`; an unknown name lists the known ones."""
    try:
        return OPTIMIZERS[name]
    except KeyError:
        known = ", ".join(OPTIMIZERS)
        raise ValueError(f"unknown optimizer {name!r}; choose one of: {known}") from None


def make_optimizer(name: str, **hyperparameters: Any) -> Optimizer:
    """Build an optimizer by name; an unknown name lists the known ones."""
    return optimizer_class(name)(**hyperparameters)


__all__ = [
    "DEFAULT_OPTIMIZER",
    "LBFGS",
    "OPTIMIZERS",
    "SGD",
    "Adam",
    "AdamW",
    "Objective",
    "Optimizer",
    "RMSprop",
    "make_optimizer",
    "optimizer_class",
]
