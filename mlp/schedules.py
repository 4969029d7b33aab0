"""Learning-rate schedules: the learning rate of each epoch, from the initial one.

Each is a pure function of the (1-based) epoch, so a resumed run gets the same rates. Each is
declared once, in `SCHEDULES`, with its hyperparameters; the config derives its schema from it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from mlp.hyperparams import Param, checked, non_negative

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


@dataclass(frozen=True)
class ScheduleKind:
    """A schedule's name, its function of the epoch, and its hyperparameters.

    `uses_total_epochs`: its rate at an epoch depends on the run's total number of epochs, so
    a run that trained with it cannot be extended (a new total would change the rates of the
    epochs already trained).
    """

    name: str
    fn: Callable[..., float]
    PARAMS: tuple[Param, ...]
    help: str
    uses_total_epochs: bool = False


def _gamma(default: float) -> Param:
    # gamma = 1 is a constant rate; gamma > 1 would make the rate grow without bound.
    return Param("gamma", default, float, low=0.0, high=1.0, open_low=True, help="decay factor")


SCHEDULES: dict[str, ScheduleKind] = {
    kind.name: kind
    for kind in (
        ScheduleKind("constant", constant, (), "the same learning rate every epoch"),
        ScheduleKind(
            "step",
            step,
            (Param("step_size", 10, int, low=1, help="epochs between decays"), _gamma(0.5)),
            "lr times gamma every step_size epochs",
        ),
        ScheduleKind("exponential", exponential, (_gamma(0.95),), "lr times gamma every epoch"),
        ScheduleKind(
            "cosine",
            cosine,
            (non_negative("min_lr", 0.0, "the rate at the end"),),
            "from lr down to min_lr along half a cosine over the run's epochs",
            uses_total_epochs=True,
        ),
    )
}
# The schedule of a config that names none: the optimizer's own rate, unchanged.
DEFAULT_SCHEDULE = "constant"


def make_schedule(name: str, *, lr: float, epochs: int, **parameters: float) -> Schedule:
    """The schedule `name` as a function of the epoch; an unknown name lists the known ones."""
    try:
        kind = SCHEDULES[name]
    except KeyError:
        known = ", ".join(SCHEDULES)
        raise ValueError(f"unknown lr schedule {name!r}; choose one of: {known}") from None
    return partial(kind.fn, lr=lr, epochs=epochs, **checked(name, kind.PARAMS, parameters))
