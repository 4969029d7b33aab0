"""Hyperparameters declared once: name, default, type and allowed range, with their check.

The optimizers, learning-rate schedules and early stopping list their hyperparameters as
`Param`s. Their constructors check values with them, and the config layer (cli/config.py)
derives its schema, defaults, messages and README reference from the same declarations, so
the two can no longer disagree.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


class HyperparameterError(ValueError):
    """A hyperparameter out of its declared range; `key` names it, `detail` says what is wrong."""

    def __init__(self, key: str, detail: str) -> None:
        super().__init__(f"{key} {detail}")
        self.key, self.detail = key, detail


def _bound(number: float) -> str:
    return str(int(number)) if float(number).is_integer() and abs(number) < 1e16 else repr(number)


@dataclass(frozen=True)
class Param:
    """One hyperparameter: its `kind` (int, float, bool or str), default and allowed values.

    Numbers lie in the interval from `low` to `high` (either may be None: unbounded), open at
    an end where `open_low` / `open_high` say so; strings are one of `choices`.
    """

    name: str
    default: Any
    kind: type
    low: float | None = None
    high: float | None = None
    open_low: bool = False
    open_high: bool = False
    choices: tuple[str, ...] = ()
    help: str = ""

    def allowed(self) -> str:
        """The allowed values in words: 'a number in [0, 1)', 'an integer >= 1', 'true or false'."""
        if self.kind is bool:
            return "true or false"
        if self.kind is str:
            return f"one of {', '.join(self.choices)}"
        noun = "an integer" if self.kind is int else "a number"
        if self.low is not None and self.high is not None:
            left, right = "(" if self.open_low else "[", ")" if self.open_high else "]"
            return f"{noun} in {left}{_bound(self.low)}, {_bound(self.high)}{right}"
        if self.low is not None:
            return f"{noun} {'>' if self.open_low else '>='} {_bound(self.low)}"
        return noun

    def check(self, value: Any) -> Any:
        """The value, cleaned (an int where a float is declared becomes a float); ValueError
        with 'must be ...' if it is of the wrong type or out of range."""
        if self.kind is bool:
            if not isinstance(value, bool):
                raise ValueError("must be true or false")
            return value
        if self.kind is str:
            if value not in self.choices:
                raise ValueError(f"must be {self.allowed()}")
            return value
        wrong_type = isinstance(value, bool) or not isinstance(value, (int, float))
        if self.kind is int:
            wrong_type = wrong_type or not isinstance(value, int)
        if wrong_type:
            raise ValueError(f"must be {self.allowed()}")
        if self.kind is float:
            try:
                value = float(value)  # an integer past 1.8e308 has no float: it is as good as inf
            except OverflowError:
                value = math.inf
            if not math.isfinite(value):
                raise ValueError("must be finite")
        too_low = self.low is not None and (
            value <= self.low if self.open_low else value < self.low
        )
        too_high = self.high is not None and (
            value >= self.high if self.open_high else value > self.high
        )
        if too_low or too_high:
            raise ValueError(f"must be {self.allowed()}")
        return value


def checked(owner: str, params: Iterable[Param], values: Mapping[str, Any]) -> dict[str, Any]:
    """Every declared value of `owner` (e.g. 'sgd'), checked, defaults filled in.

    An unknown name or a bad value raises HyperparameterError naming it.
    """
    params = tuple(params)
    known = {p.name for p in params}
    for name in values:
        if name not in known:
            raise HyperparameterError(
                str(name), f"is not a parameter of {owner} (valid: {', '.join(sorted(known))})"
            )
    result = {}
    for param in params:
        value = values.get(param.name, param.default)
        try:
            result[param.name] = param.check(value)
        except ValueError as err:
            raise HyperparameterError(param.name, f"{err}, got {value!r}") from None
    return result


def lr(default: float) -> Param:
    """The learning rate, > 0, that every first-order optimizer and every schedule starts from."""
    return Param("lr", default, float, low=0.0, open_low=True, help="learning rate")


def fraction(name: str, default: float, help: str = "") -> Param:
    """A number in [0, 1): momentum coefficients, decay rates of moving averages."""
    return Param(name, default, float, low=0.0, high=1.0, open_high=True, help=help)


def positive(name: str, default: float, help: str = "") -> Param:
    """A number > 0."""
    return Param(name, default, float, low=0.0, open_low=True, help=help)


def non_negative(name: str, default: float, help: str = "") -> Param:
    """A number >= 0."""
    return Param(name, default, float, low=0.0, help=help)
