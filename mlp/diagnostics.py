"""What training looks like inside, per layer and per epoch, and the rules that name a cause.

Once per epoch, after its last step, one forward and backward pass over a fixed probe batch
of training rows measures each layer (`measure`):

    saturated     the share of a layer's units with |z| > 3 on more than half the probe rows,
                  for an activation that saturates (sigmoid' < 0.05 there, tanh' < 0.01:
                  such a unit passes almost no gradient back, BP2 in docs/math.md)
    dead          the share of a layer's units that are 0 on every probe row, for an activation
                  that can die (relu: its slope is 0 there too, so it never comes back)
    grad_norm     ||dE/dW_l, dE/db_l||, the size of the layer's gradient (BP3, BP4)
    update_ratio  the median over the epoch's steps of ||Delta W_l|| / ||W_l|| (W_l before
                  the step), how far one step moves the layer's weights relative to their
                  size (`UpdateRatios`; on the first, middle and last steps of a longer
                  epoch; null for a full-batch optimizer, whose line search chooses its step)

saturated and dead are null for the output layer and for activations without the property.
The rules (`RULES`, applied by `diagnose` to the epochs' records) read these numbers and the
losses and say, in words, what is wrong and what to change; each fires at most once a run.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from mlp.network import MLP

# The probe batch: a 64th of the training rows, at least 16 and at most 256, spread evenly.
# Its forward and backward pass is the diagnostics' main cost: on digits (1293 training rows,
# a ~4.3 ms epoch) a 32nd, 40 rows, put the whole at 5.5 to 6.6% of the epoch, and 20 rows at
# 3.8 to 4.2% (benchmarks/diagnostics.py), within the 5% allowed; the shares it measures
# against a 50% threshold need no more. MNIST's 60,000 rows get 256.
PROBE_ROWS, PROBE_MIN, PROBE_SHARE = 256, 16, 64
# What `measure` gives of each layer, in metrics.jsonl's order.
FIGURES = ("saturated", "dead", "grad_norm", "update_ratio")
SATURATED_Z = 3.0  # |z| beyond which a saturating unit counts as saturated


def probe_rows(n_rows: int) -> np.ndarray:
    """Row positions of the probe batch (see PROBE_ROWS), evenly spread over the training rows
    (a file sorted by class still gives every class), chosen without drawing from any
    generator, so that measuring changes nothing of the run's random stream."""
    size = min(n_rows, max(PROBE_MIN, min(PROBE_ROWS, n_rows // PROBE_SHARE)))
    return np.unique(np.linspace(0, n_rows - 1, size).round().astype(np.int64))


# Steps per epoch whose update ratio is measured: the first, the middle and the last (every
# step of a shorter epoch). A measured step costs a copy and four norms of the parameters,
# 0.4% of a digits epoch (41 steps of ~100 us) each, so measuring all of them took 13%, and 4
# of them 0.4% more than 3 (benchmarks/diagnostics.py; the probe pass, PROBE_ROWS, costs the
# rest of the 5% the diagnostics may take). The rule they feed (a ratio above 0.1) needs a
# typical step's size, which 3 of them give.
RATIO_STEPS = 3


def ratio_steps(n_steps: int, limit: int = RATIO_STEPS) -> frozenset[int]:
    """The 1-based steps of an epoch of `n_steps` whose update ratio is measured."""
    return frozenset(np.linspace(1, n_steps, min(n_steps, limit)).round().astype(int).tolist())


class UpdateRatios:
    """||Delta W_l|| / ||W_l|| of the measured steps of an epoch (`start_step` and `end_step`
    around each), and their median per layer at its end. One buffer the size of the
    parameters holds the weights before the step, then their change."""

    def __init__(self, model: MLP) -> None:
        self.model = model
        self.before = np.empty_like(model.params)
        self.changes = model.unflatten(self.before)[0]  # views of it: each layer's Delta W_l
        self.sizes: list[float] = []
        self.ratios: list[list[float]] = []  # one list per measured step: a ratio per layer

    def start_step(self) -> None:
        """Call before the optimizer's step: keeps the weights and their sizes ||W_l||."""
        np.copyto(self.before, self.model.params)
        self.sizes = [float(np.sqrt(np.vdot(W, W))) for W in self.model.weights]

    def end_step(self) -> None:
        """Call after the optimizer's step: records ||Delta W_l|| / ||W_l|| (the weights
        before the step) for each layer."""
        np.subtract(self.model.params, self.before, out=self.before)
        ratios = []
        for size, dW in zip(self.sizes, self.changes):
            ratios.append(float(np.sqrt(np.vdot(dW, dW))) / size if size > 0 else 0.0)
        self.ratios.append(ratios)

    def medians(self) -> list[float | None]:
        """Each layer's median ratio over the steps so far (None before any step), and reset."""
        if not self.ratios:
            return [None] * self.model.n_layers
        # statistics.median on a few floats: np.median's set-up took 150 us an epoch
        medians = [statistics.median(layer) for layer in zip(*self.ratios)]
        self.ratios = []
        return medians


def measure(
    model: MLP, X_probe: np.ndarray, y_probe: np.ndarray, update_ratios: list[float | None]
) -> list[dict]:
    """Each layer's figures (the module's docstring) on the probe batch, as plain dicts.

    Its backward pass overwrites `model.grad`, which the next step computes afresh anyway.
    """
    zs, activations = model.forward(X_probe)
    _, grad = model.backward(zs, activations, y_probe)
    grad_weights, grad_biases = model.unflatten(grad)
    activation = model.activation
    layers = []
    for l in range(1, model.n_layers + 1):  # noqa: E741  (l = 1, ..., L, as in the maths)
        hidden = l < model.n_layers
        saturated = dead = None
        if hidden and activation.saturates:
            beyond = np.abs(zs[l - 1]) > SATURATED_Z
            saturated = float(np.mean(beyond.mean(axis=0) > 0.5))
        if hidden and activation.can_die:
            dead = float(np.mean((activations[l] == 0).all(axis=0)))
        gW, gb = grad_weights[l - 1], grad_biases[l - 1]
        layers.append(
            {
                "layer": l,
                "saturated": saturated,
                "dead": dead,
                "grad_norm": float(np.sqrt(np.vdot(gW, gW) + np.vdot(gb, gb))),
                "update_ratio": update_ratios[l - 1],
            }
        )
    return layers


# -- the rules -------------------------------------------------------------------------------

VANISHING_RATIO = 1e-3  # first layer's gradient below this share of the last layer's
VANISHING_DEPTH = 3  # layers of weights (two hidden layers) before a gradient can vanish
MOSTLY = 0.5  # "most units": more than half of a layer
LARGE_UPDATE = 0.1  # a step that moves the weights by a tenth of their size
OVERFIT_EPOCHS = 10  # epochs of validation loss above its best while training loss falls
OVERFIT_CHANGE, OVERFIT_RISE = 0.1, 0.05  # how far each must have moved by then


@dataclass(frozen=True)
class Finding:
    """A rule that fired: which, at which epoch (and layer), and what it says."""

    rule: str
    epoch: int
    layer: int | None
    message: str

    def record(self) -> dict:
        """As summary.json and `mlp eval --json` give it."""
        return {
            "rule": self.rule,
            "epoch": self.epoch,
            "layer": self.layer,
            "message": self.message,
        }


# A check reads the epochs' records up to one epoch (metrics.jsonl's lines) and returns the
# layer and the words for what it saw there, or None.
Check = Callable[[Sequence[dict]], "tuple[int | None, str] | None"]


@dataclass(frozen=True)
class Rule:
    """A diagnosis: its name, its check on the records so far, and the fix it suggests."""

    name: str
    check: Check
    fix: str
    needs_no_early_stopping: bool = False


def _layers(record: dict) -> list[dict]:
    return record.get("diagnostics") or []


def _vanishing(records: Sequence[dict]) -> tuple[int | None, str] | None:
    layers = _layers(records[-1])
    # through depth: with one hidden layer a small first gradient is its units' saturation
    # or death, which the rules on those name with the right fix
    if len(layers) < VANISHING_DEPTH or not layers[-1]["grad_norm"]:
        return None
    first, last = layers[0]["grad_norm"], layers[-1]["grad_norm"]
    if first < VANISHING_RATIO * last:
        return 1, (
            f"vanishing gradients: the first layer's gradient norm is {first:.2g}, "
            f"{first / last:.1e} of the last layer's ({last:.2g})"
        )
    return None


def _saturated_from_the_start(records: Sequence[dict]) -> tuple[int | None, str] | None:
    if len(records) != 1:
        return None
    for layer in _layers(records[0]):
        if layer["saturated"] is not None and layer["saturated"] > MOSTLY:
            share = layer["saturated"]
            return layer["layer"], (
                f"{share:.0%} of layer {layer['layer']}'s units are saturated (|z| > "
                f"{SATURATED_Z:g} on most rows) from the first epoch, passing almost no gradient"
            )
    return None


def _dead(records: Sequence[dict]) -> tuple[int | None, str] | None:
    for layer in _layers(records[-1]):
        if layer["dead"] is not None and layer["dead"] > MOSTLY:
            return layer["layer"], (
                f"{layer['dead']:.0%} of layer {layer['layer']}'s units are dead (0 on every "
                "probe row), and a dead unit never learns again"
            )
    return None


def _large_updates(records: Sequence[dict]) -> tuple[int | None, str] | None:
    if len(records) < 2:  # the first epoch's steps may rightly be large
        return None
    for layer in _layers(records[-1]):
        ratio = layer["update_ratio"]
        if ratio is not None and ratio > LARGE_UPDATE:
            return layer["layer"], (
                f"a step moves layer {layer['layer']}'s weights by {ratio:.2f} of their size "
                f"(median over the epoch; above {LARGE_UPDATE:g} after the first epoch)"
            )
    return None


def _overfitting(records: Sequence[dict]) -> tuple[int | None, str] | None:
    val = [r.get("val_loss") for r in records]
    if len(records) <= OVERFIT_EPOCHS or any(v is None for v in val):
        return None
    best = int(np.argmin(val))
    now = len(records) - 1
    train_then, train_now = records[best]["train_loss"], records[now]["train_loss"]
    # both moving for real, not noise around a stall: the training loss down by a tenth or
    # more since the best epoch, the validation loss up by 5% or more
    if (
        now - best >= OVERFIT_EPOCHS
        and train_now < (1 - OVERFIT_CHANGE) * train_then
        and val[now] > (1 + OVERFIT_RISE) * val[best]
    ):
        return None, (
            f"overfitting: the validation loss has stayed above its best ({val[best]:.4g}, "
            f"epoch {best + 1}) for {now - best} epochs, now {val[now]:.4g}, while the "
            f"training loss fell from {train_then:.4g} to {train_now:.4g}"
        )
    return None


RULES: dict[str, Rule] = {
    rule.name: rule
    for rule in (
        Rule(
            "vanishing_gradients",
            _vanishing,
            "use fewer layers, an activation that does not saturate (relu), or adam",
        ),
        Rule(
            "saturated_start",
            _saturated_from_the_start,
            "standardise the inputs (data.standardize: true), or start from smaller weights",
        ),
        Rule("dead_units", _dead, "use a smaller learning rate (train.optimizer.lr)"),
        Rule(
            "large_updates",
            _large_updates,
            "the learning rate is too high: lower train.optimizer.lr",
        ),
        Rule(
            "overfitting",
            _overfitting,
            "add train.weight_decay, or train.early_stopping",
            needs_no_early_stopping=True,
        ),
    )
}


def diagnose(records: Sequence[dict], *, early_stopping: bool = False) -> list[Finding]:
    """The rules that fire on a run's epochs (metrics.jsonl's records, in order), each at the
    first epoch it sees its problem; the overfitting rule stays silent when early stopping
    is on (its cure is already applied)."""
    findings: list[Finding] = []
    for rule in RULES.values():
        if rule.needs_no_early_stopping and early_stopping:
            continue
        for epoch in range(1, len(records) + 1):
            seen = rule.check(records[:epoch])
            if seen is not None:
                layer, what = seen
                findings.append(Finding(rule.name, epoch, layer, f"{what}: {rule.fix}"))
                break
    return sorted(findings, key=lambda finding: finding.epoch)  # in the order they appeared
