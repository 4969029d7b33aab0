"""Learning-rate schedules: the learning rate of each epoch, from the initial one.

Each is a pure function of the (1-based) epoch, so a resumed run gets the same rates.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial

Schedule = Callable[[int], float]


def constant(epoch: int, *, lr: float, epochs: int) -> float:
    """lr_t = lr."""
    return lr


def step(epoch: int, *, lr: float, epochs: int, step_size: int, gamma: float) -> float:
    """lr_t = lr * gamma^floor((t - 1) / step_size): multiplied by gamma every step_size epochs."""
    return lr * gamma ** ((epoch - 1) // step_size)


def exponential(epoch: int, *, lr: float, epochs: int, gamma: float) -> float:
    """lr_t = lr * gamma^(t - 1)."""
    return lr * gamma ** (epoch - 1)


def cosine(epoch: int, *, lr: float, epochs: int, min_lr: float = 0.0) -> float:
    """lr_t = min_lr + (lr - min_lr) (1 + cos(pi (t - 1) / epochs)) / 2: from lr down to min_lr."""
    return min_lr + (lr - min_lr) * (1 + math.cos(math.pi * (epoch - 1) / epochs)) / 2


SCHEDULES: dict[str, Callable[..., float]] = {
    "constant": constant,
    "step": step,
    "exponential": exponential,
    "cosine": cosine,
}


def make_schedule(name: str, *, lr: float, epochs: int, **parameters: float) -> Schedule:
    """The schedule `name` as a function of the epoch; an unknown name lists the known ones."""
    try:
        fn = SCHEDULES[name]
    except KeyError:
        known = ", ".join(SCHEDULES)
        raise ValueError(f"unknown lr schedule {name!r}; choose one of: {known}") from None
    return partial(fn, lr=lr, epochs=epochs, **parameters)
