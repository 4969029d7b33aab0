"""What every optimizer shares: declared hyperparameters, checked once, and a saveable state."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from mlp.hyperparams import Param, checked

# The objective at the current content of the parameter vector: (value, flat gradient).
Objective = Callable[[], tuple[float, np.ndarray]]


class Optimizer:
    """An optimizer of one flat parameter vector, in place.

    A subclass declares its registry `name`, its hyperparameters `PARAMS` (which become
    attributes and constructor arguments, in that order) and the attributes in `STATE` that,
    with the hyperparameters, are all it needs to continue exactly after `load_state_dict`.
    A first-order optimizer implements `step(params, grad)`; a full-batch one (`full_batch =
    True`) implements `iterate(params, objective)` instead.
    """

    name: ClassVar[str]
    PARAMS: ClassVar[tuple[Param, ...]]
    STATE: ClassVar[tuple[str, ...]] = ()
    # Takes the whole training set and a closure per iteration, rather than one batch's gradient.
    full_batch: ClassVar[bool] = False
    # Decays the weights itself, so the objective's L2 term (train.weight_decay) must stay 0.
    decoupled_weight_decay: ClassVar[bool] = False
    # Its update rule in one line, as `mlp explain` shows it beside the step it takes.
    EQUATION: ClassVar[str] = "theta <- the optimizer's step"
    converged = False  # a full-batch optimizer sets it when it can make no more progress
    lr: float

    @classmethod
    def memory_vectors(cls, hyperparameters: dict[str, Any]) -> int:
        """How many parameter-sized vectors a step of this optimizer keeps alive at once: its
        state and the temporaries of one update (the memory check before training counts them).

        Every optimizer declares its own; `hyperparameters` are its validated values.
        """
        raise NotImplementedError(f"{cls.__name__} must declare memory_vectors")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # help(SGD) shows SGD(lr=0.1, momentum=0.9, nesterov=False), from the declaration.
        cls.__signature__ = inspect.Signature(
            [
                inspect.Parameter(
                    p.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=p.default
                )
                for p in cls.PARAMS
            ]
        )

    def __init__(self, *args: Any, **hyperparameters: Any) -> None:
        """Check the hyperparameters against `PARAMS` (positional ones in declared order)."""
        if len(args) > len(self.PARAMS):
            raise TypeError(f"{self.name} takes at most {len(self.PARAMS)} hyperparameters")
        for param, value in zip(self.PARAMS, args):
            if param.name in hyperparameters:
                raise TypeError(f"{self.name} got {param.name} twice")
            hyperparameters[param.name] = value
        for key, value in self.validate(hyperparameters).items():
            setattr(self, key, value)
        for key in self.STATE:
            setattr(self, key, getattr(type(self), key, None))  # a class-level default, or None

    @classmethod
    def validate(cls, hyperparameters: dict[str, Any]) -> dict[str, Any]:
        """Every hyperparameter checked, defaults filled in; HyperparameterError names a bad one.

        A subclass with rules that tie two hyperparameters together extends this.
        """
        return checked(cls.name, cls.PARAMS, hyperparameters)

    def hyperparameters(self) -> dict[str, Any]:
        """{name: value} of every declared hyperparameter, as now set."""
        return {p.name: getattr(self, p.name) for p in self.PARAMS}

    def bind(self, weight_mask: np.ndarray) -> None:
        """Told by the trainer which entries of the flat vector are weights (True), not biases.

        Only an optimizer that treats the two differently needs it.
        """

    def state_dict(self) -> dict[str, np.ndarray]:
        """Everything `load_state_dict` needs to continue exactly where this optimizer is."""
        state = {key: np.asarray(value) for key, value in self.hyperparameters().items()}
        for key in self.STATE:
            value = getattr(self, key)
            if value is not None:
                state[key] = np.array(value)  # a copy: later steps must not change it
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Restore a state saved by `state_dict`."""
        for param in self.PARAMS:
            if param.name in state:
                setattr(self, param.name, param.kind(np.asarray(state[param.name]).item()))
        for key in self.STATE:
            value = np.array(state[key]) if key in state else None
            setattr(self, key, value.item() if value is not None and value.ndim == 0 else value)

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={v!r}" for k, v in self.hyperparameters().items())
        return f"{type(self).__name__}({settings})"
