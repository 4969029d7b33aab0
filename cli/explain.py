"""`mlp explain`: the first training step of a config's run, every quantity on the way.

The network, its data and its optimizer are built exactly as `mlp train` builds a new run
(`session.first_run_state`: the same seed, split, standardisation, initial weights or
`model.init_from`, class weights and epoch-1 learning rate), then `mlp.explain.explain_step`
takes one step on the rows asked for: one training row (`--sample I`, the default row 0) or the
first B training rows (`--batch B`), in the training part's order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cli.config import Config
from cli.experiment import architecture, sample_weights
from cli.session import first_run_state
from cli.usage import UsageError
from mlp.explain import Quantity, explain_step


@dataclass(frozen=True)
class Explanation:
    """One explained step: what was built, which rows, and the quantities in order."""

    config: Config
    architecture: str
    activation: str
    head: str
    optimizer: str
    rows: np.ndarray  # the data's row numbers (positions in the file's labelled rows)
    quantities: list[Quantity]

    @property
    def layers_text(self) -> str:
        """'sigmoid hidden layers, softmax head', or 'no hidden layer, softmax head'."""
        hidden = self.architecture.count("->") > 1
        return (
            f"{self.activation} hidden layers" if hidden else "no hidden layer"
        ) + f", {self.head} head"


# --json writes every number of the step; past this many it would be gigabytes of text
MAX_JSON_NUMBERS = 5_000_000


def training_rows(
    n_train: int, sample: int | None, batch: int | None, full_batch: bool = False
) -> slice:
    """The training part's positions that --sample or --batch name: by default row 0, or
    every row for a full-batch optimizer (L-BFGS steps on the whole set in training)."""
    if sample is not None and batch is not None:
        raise UsageError("--sample and --batch: choose one (a row, or the first B rows)")
    if full_batch and sample is None and batch is None:
        return slice(0, n_train)
    if batch is not None:
        if not 1 <= batch <= n_train:
            raise UsageError(f"--batch {batch}: the training part has {n_train} rows")
        return slice(0, batch)
    sample = 0 if sample is None else sample
    if not 0 <= sample < n_train:
        raise UsageError(
            f"--sample {sample}: the training part has {n_train} rows (0 to {n_train - 1})"
        )
    return slice(sample, sample + 1)


def explain(config: Config, sample: int | None, batch: int | None) -> Explanation:
    """Build the run `config` describes and take its first step on the rows asked for."""
    config, data, model, optimizer, trainer = first_run_state(config)
    X_train, y_train = data.parts["train"]
    rows = training_rows(len(y_train), sample, batch, optimizer.full_batch)
    if trainer.lr_schedule is not None:  # epoch 1's rate, as the trainer sets it
        optimizer.lr = trainer.lr_schedule(1)
    weights = sample_weights(config, data)
    quantities = explain_step(
        model,
        optimizer,
        X_train[rows],
        y_train[rows],
        weight_decay=config.train.weight_decay,
        sample_weight=None if weights is None else weights[rows],
    )
    settings = ", ".join(f"{k}={v}" for k, v in optimizer.hyperparameters().items())
    return Explanation(
        config=config,
        architecture=architecture(model.layer_sizes),
        activation=model.activation.name,
        head=model.head.name,
        optimizer=f"{optimizer.name}: {settings}",
        rows=data.split["train"][rows],
        quantities=quantities,
    )


def _strict(values: np.ndarray):
    """The array as nested lists for strict JSON: a number that overflowed becomes null."""
    if np.isfinite(values).all():
        return values.tolist()
    return np.where(np.isfinite(values), values, None).tolist()


def explanation_json(explanation: Explanation) -> dict:
    """`mlp explain --json`: every quantity in full precision, in the derivation's order (a
    step of more than MAX_JSON_NUMBERS numbers is refused in one line)."""
    numbers = sum(q.value.size for q in explanation.quantities)
    if numbers > MAX_JSON_NUMBERS:
        raise UsageError(
            f"--json: this step holds {numbers:,} numbers, past the {MAX_JSON_NUMBERS:,} it "
            "writes; the text output summarises the large arrays, or explain a smaller network"
        )
    return {
        "architecture": explanation.architecture,
        "activation": explanation.activation,
        "head": explanation.head,
        "optimizer": explanation.optimizer,
        "rows": explanation.rows.tolist(),
        "quantities": [
            {
                "name": q.name,
                "equation": q.equation,
                "section": q.section,
                "shape": list(q.value.shape),
                "values": _strict(np.asarray(q.value, dtype=np.float64)),
            }
            for q in explanation.quantities
        ],
    }
