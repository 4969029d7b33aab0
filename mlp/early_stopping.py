"""Early stopping on a validation metric, keeping the best weights seen."""

from __future__ import annotations

import numpy as np

from mlp.hyperparams import Param, checked, non_negative
from mlp.training import EpochReport

# and which way is better
# (a monitor that the model's head does not report is refused when training starts)
MONITORS = {
    "val_loss": "min",
    "val_accuracy": "max",
    "val_balanced_accuracy": "max",
    "val_r2": "max",
}


class EarlyStopping:
    """Stop when `monitor` has not improved by more than `min_delta` for `patience` epochs.

    After each epoch call `update(report, params)`: it records the best epoch (and a copy of
    its weights) and returns True when training should stop.
    """

    PARAMS = (
        Param("monitor", "val_loss", str, choices=tuple(MONITORS), help="the metric watched"),
        Param("patience", 10, int, low=1, help="epochs without improvement before stopping"),
        non_negative("min_delta", 0.0, "the least change that counts as an improvement"),
    )

    def __init__(self, monitor: str = "val_loss", patience: int = 10, min_delta: float = 0.0):
        """`monitor` is val_loss (lower is better), val_accuracy, val_balanced_accuracy (for a
        classifier) or val_r2 (for a regression; higher is better)."""
        values = checked(
            "early stopping",
            self.PARAMS,
            dict(monitor=monitor, patience=patience, min_delta=min_delta),
        )
        self.monitor, self.patience, self.min_delta = (
            values["monitor"],
            values["patience"],
            values["min_delta"],
        )
        self.best_value: float | None = None
        self.best_epoch: int | None = None
        self.best_params: np.ndarray | None = None
        self.waited = 0

    def improved(self, value: float) -> bool:
        """Whether `value` beats the best so far by more than min_delta."""
        if self.best_value is None:
            return True
        if MONITORS[self.monitor] == "min":
            return value < self.best_value - self.min_delta
        return value > self.best_value + self.min_delta

    def update(self, report: EpochReport, params: np.ndarray) -> bool:
        """Take in one epoch's report (and the weights after it); True means stop now."""
        value = report.metric(self.monitor)
        if value is None:
            raise ValueError(f"early stopping on {self.monitor} needs a validation set")
        if self.improved(value):
            self.best_value, self.best_epoch, self.waited = value, report.epoch, 0
            self.best_params = params.copy()
        else:
            self.waited += 1
        return self.waited >= self.patience
