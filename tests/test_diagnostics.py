# ruff: noqa: E741  (l numbers the layers, as in docs/math.md)
"""Training diagnostics: each figure against NumPy by hand, the training unchanged by them,
each rule on a network built to trip it, and silence on every shipped config."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.preprocessing import StandardScaler

from mlp import MLP, SGD, Adam, Trainer, fit
from mlp.diagnostics import RULES, diagnose, measure, probe_rows, ratio_steps

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def digits(standardize: bool = True, n: int = 300):
    X, y = load_digits(return_X_y=True)
    return (StandardScaler().fit_transform(X) if standardize else X)[:n], y[:n]


def rules_fired(reports) -> set[str]:
    return {finding.rule for finding in diagnose([r.record() for r in reports])}


# -- the figures -------------------------------------------------------------------------------


def test_each_figure_is_what_numpy_computes_by_hand():
    rng = np.random.default_rng(0)
    model = MLP([3, 4, 5, 2], rng, activation="relu")
    model.biases[0][:2] = -50.0  # two units of layer 1 below zero for any of these inputs
    model.weights[1][:, 0] = 10.0  # a large z for unit 0 of layer 2 (relu does not saturate)
    X, y = rng.normal(size=(6, 3)), np.array([0, 1, 0, 1, 1, 0])
    layers = measure(model, X, y, [0.5, 0.25, 0.125])
    z1 = X @ model.weights[0] + model.biases[0]
    a1 = np.maximum(z1, 0)
    assert layers[0]["dead"] == pytest.approx(np.mean((a1 == 0).all(axis=0)))
    assert layers[0]["dead"] >= 0.5
    assert layers[0]["saturated"] is None and layers[-1]["dead"] is None  # relu; the output
    _, grad = model.loss_and_grad(X, y)
    for l, (W, b) in enumerate(zip(*model.unflatten(grad)), start=1):
        by_hand = np.sqrt((W**2).sum() + (b**2).sum())
        assert layers[l - 1]["grad_norm"] == pytest.approx(by_hand)
    assert [layer["update_ratio"] for layer in layers] == [0.5, 0.25, 0.125]

    sigmoid = MLP([3, 4, 2], rng)
    sigmoid.weights[0][:, :3] *= 40.0  # |z| > 3 on most rows for three of four units
    layers = measure(sigmoid, X, y, [None, None])
    z1 = X @ sigmoid.weights[0] + sigmoid.biases[0]
    by_hand = np.mean((np.abs(z1) > 3).mean(axis=0) > 0.5)
    assert layers[0]["saturated"] == pytest.approx(by_hand) and by_hand >= 0.5


def test_the_update_ratio_is_the_median_over_the_epochs_steps():
    X, y = digits(n=100)
    model = MLP([64, 8, 10], np.random.default_rng(1))
    copy = model.copy()
    reports = fit(
        model,
        SGD(lr=0.1, momentum=0.0),
        X,
        y,
        epochs=1,
        batch_size=34,
        rng=None,
        shuffle=False,
        diagnostics=True,
    )  # fmt: skip  (3 steps: each measured)
    ratios = []  # plain SGD by hand: the change of W_l is -lr times its gradient
    for start in range(0, 100, 34):
        _, grad = copy.loss_and_grad(X[start : start + 34], y[start : start + 34])
        step = [
            np.linalg.norm(0.1 * gW) / np.linalg.norm(W)
            for W, gW in zip(copy.weights, copy.unflatten(grad)[0])
        ]
        copy.params -= 0.1 * grad
        ratios.append(step)
    expected = np.median(ratios, axis=0)
    got = [layer["update_ratio"] for layer in reports[0].diagnostics]
    np.testing.assert_allclose(got, expected, rtol=1e-9)


def test_the_probe_rows_are_a_64th_of_the_rows_spread_out_between_16_and_256():
    assert probe_rows(5).tolist() == [0, 1, 2, 3, 4]  # fewer than 16: all of them
    assert len(probe_rows(1000)) == 16 and len(probe_rows(3200)) == 50
    rows = probe_rows(60000)
    assert len(rows) == 256 and rows[0] == 0 and rows[-1] == 59999
    assert np.all(np.diff(rows) >= 200)  # evenly spread, not the first 256


def test_the_update_ratio_is_measured_on_every_step_of_a_short_epoch_and_3_of_a_long_one():
    assert ratio_steps(2) == frozenset({1, 2})
    assert ratio_steps(469) == frozenset({1, 235, 469})  # an MNIST epoch of batches of 128


def test_a_full_batch_optimizer_has_no_update_ratio_but_the_other_figures():
    from mlp import LBFGS

    X, y = digits(n=100)
    model = MLP([64, 8, 10], np.random.default_rng(0))
    reports = fit(model, LBFGS(), X, y, epochs=2, batch_size=1, rng=None, diagnostics=True)
    layers = reports[-1].diagnostics
    assert [layer["update_ratio"] for layer in layers] == [None, None]
    assert all(layer["grad_norm"] > 0 for layer in layers)


def test_measuring_changes_no_number_of_the_training():
    X, y = digits()
    runs = []
    for diagnostics in (False, True):
        model = MLP([64, 16, 10], np.random.default_rng(3))
        reports = fit(model, Adam(lr=0.01), X, y, epochs=3, batch_size=32,
                      rng=np.random.default_rng(4), diagnostics=diagnostics)  # fmt: skip
        runs.append((model.params.copy(), [r.train_loss for r in reports]))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    assert runs[0][1] == runs[1][1]


def test_an_epoch_resumed_midway_measures_the_same_update_ratios():
    X, y = digits()

    def trainer():
        model = MLP([64, 16, 10], np.random.default_rng(3))
        return Trainer(model, SGD(lr=0.1), X, y, batch_size=32, rng=np.random.default_rng(4),
                       diagnostics=True)  # fmt: skip

    straight = list(trainer().run(2))
    first = trainer()
    steps = iter(range(100))
    first.after_step = lambda seconds: next(steps) == 3 and first.request_stop()
    with pytest.raises(Exception, match="stopped after batch 4 of epoch 1"):
        list(first.run(2))
    state = first.state_dict()
    params = first.model.params.copy()
    optimizer = first.optimizer.state_dict()
    second = trainer()
    second.model.params[:] = params
    second.optimizer.load_state_dict(optimizer)
    second.load_state_dict(json.loads(json.dumps({**state, "order": None, "rng": None})) | {
        "order": state["order"], "rng": state["rng"]})  # fmt: skip
    resumed = list(second.run(2))
    assert [r.diagnostics for r in resumed] == [r.diagnostics for r in straight]


# -- the rules, each on a network built to trip it ----------------------------------------------


def vanishing():
    X, y = digits(n=200)  # twenty sigmoid layers: each sigma' <= 1/4 shrinks the gradient
    model = MLP([64, *[16] * 19, 10], np.random.default_rng(0))
    return fit(model, SGD(lr=0.1), X, y, epochs=1, batch_size=32, rng=np.random.default_rng(1),
               diagnostics=True)  # fmt: skip


def saturated_start():
    X, y = digits(standardize=False)  # pixel values 0..16 into sigmoid units
    model = MLP([64, 32, 10], np.random.default_rng(0))
    return fit(model, SGD(lr=0.1), X, y, epochs=1, batch_size=32, rng=np.random.default_rng(1),
               diagnostics=True)  # fmt: skip


def dead_units():
    X, y = digits(standardize=False)  # a large first step pushes every relu below zero
    model = MLP([64, 32, 10], np.random.default_rng(0), activation="relu")
    return fit(model, SGD(lr=1.0, momentum=0.9), X, y, epochs=2, batch_size=32,
               rng=np.random.default_rng(1), diagnostics=True)  # fmt: skip


def large_updates():
    X, y = digits()
    model = MLP([64, 32, 10], np.random.default_rng(0), activation="relu")
    return fit(model, SGD(lr=0.5, momentum=0.9), X, y, epochs=3, batch_size=32,
               rng=np.random.default_rng(1), diagnostics=True)  # fmt: skip


def overfitting():
    rng = np.random.default_rng(0)  # 20 rows of noise: a wide network learns them by heart
    X, y = rng.normal(size=(40, 10)), rng.integers(0, 2, 40)
    model = MLP([10, 64, 2], np.random.default_rng(0))
    return fit(model, Adam(lr=0.01), X[:20], y[:20], epochs=60, batch_size=20, rng=rng,
               X_val=X[20:], y_val=y[20:], diagnostics=True)  # fmt: skip


TRIGGERS = {
    "vanishing_gradients": vanishing,
    "saturated_start": saturated_start,
    "dead_units": dead_units,
    "large_updates": large_updates,
    "overfitting": overfitting,
}


def test_every_rule_has_a_network_that_trips_it():
    assert set(TRIGGERS) == set(RULES)


@pytest.mark.parametrize("rule", list(RULES))
def test_each_rule_fires_once_on_its_own_failing_network(rule):
    reports = TRIGGERS[rule]()
    findings = diagnose([r.record() for r in reports])
    assert rule in [f.rule for f in findings]
    assert len({f.rule for f in findings}) == len(findings)  # at most once each
    message = next(f.message for f in findings if f.rule == rule)
    assert RULES[rule].fix in message  # the cause, then the fix


def test_overfitting_is_not_named_when_early_stopping_is_on():
    records = [r.record() for r in overfitting()]
    assert "overfitting" in {f.rule for f in diagnose(records)}
    assert "overfitting" not in {f.rule for f in diagnose(records, early_stopping=True)}


# -- through the command line -------------------------------------------------------------------


def ok(result) -> str:
    assert result.exit_code == 0, result.stderr or result.stdout
    return result.stdout


def test_a_diagnosis_is_shown_after_the_table_recorded_once_and_listed_by_eval(mlp_cli, tmp_path):
    run = tmp_path / "run"
    config = CONFIGS / "wine-mixed.yaml"
    no_stop = ("--set", "train.early_stopping=null")
    ok(mlp_cli("train", "--config", config, "--out", run, *no_stop, "--set", "train.epochs=30",
               "--quiet"))  # fmt: skip
    shown = ok(mlp_cli("train", "--resume", run, *no_stop, "--set", "train.epochs=60"))
    assert "diagnosis (epoch 25): overfitting" in shown
    summary = json.loads((run / "summary.json").read_text())
    assert [d["rule"] for d in summary["diagnoses"]] == ["overfitting"]  # once, not per session
    report = json.loads(ok(mlp_cli("eval", run, "--json")))
    assert report["diagnoses"] == summary["diagnoses"]
    assert "diagnosis (epoch 25): overfitting" in ok(mlp_cli("eval", run))


def test_curves_plots_the_diagnostics_per_layer(mlp_cli, tmp_path):
    run = tmp_path / "run"
    ok(mlp_cli("train", "--config", CONFIGS / "iris.yaml", "--out", run, "--set",
               "train.epochs=5", "--quiet"))  # fmt: skip
    text = ok(mlp_cli("curves", run, "--diagnostics"))
    for title in ("log10 grad_norm", "log10 update_ratio", "saturated (share of units)"):
        assert title in text
    assert "layer 1" in text and "layer 2" in text
    pytest.importorskip("matplotlib")
    png = tmp_path / "d.png"
    ok(mlp_cli("curves", run, "--diagnostics", "--png", png))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_diagnostics_turned_off_record_nothing_and_curves_says_so(mlp_cli, tmp_path):
    run = tmp_path / "run"
    ok(mlp_cli("train", "--config", CONFIGS / "iris.yaml", "--out", run, "--set",
               "train.epochs=2", "--set", "train.diagnostics=false", "--quiet"))  # fmt: skip
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert all("diagnostics" not in r for r in records)
    result = mlp_cli("curves", run, "--diagnostics")
    assert result.exit_code == 2 and "train.diagnostics was off" in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(p.name for p in CONFIGS.glob("*.yaml")))
def test_no_rule_fires_on_a_shipped_config(mlp_cli, tmp_path, name):
    summary = json.loads(
        ok(mlp_cli("train", "--config", CONFIGS / name, "--out", tmp_path / "run", "--json"))
    )
    assert summary["diagnoses"] == []


def records_of(train, val, layers=None):
    return [
        {"epoch": i + 1, "train_loss": t, "val_loss": v, "diagnostics": layers}
        for i, (t, v) in enumerate(zip(train, val))
    ]


def test_overfitting_needs_the_training_loss_to_fall_and_the_validation_loss_to_rise():
    rising_val = [1.0] + [1.2] * 11
    falling = records_of([1.0] + [0.5] * 11, rising_val)
    assert [f.rule for f in diagnose(falling)] == ["overfitting"]
    stuck = records_of([2.3] + [3.9, 4.0] * 5 + [3.8], rising_val)  # a run that never learned
    assert diagnose(stuck) == []
    flat = records_of([1.0] + [0.5] * 11, [1.0] + [1.01] * 11)  # noise around the best
    assert diagnose(flat) == []


def test_a_gradient_vanishes_only_through_depth_and_findings_come_in_epoch_order():
    layer = {"saturated": None, "dead": None, "update_ratio": 0.01}
    shallow = [
        {**layer, "layer": 1, "saturated": 0.9, "grad_norm": 1e-9},
        {**layer, "layer": 2, "grad_norm": 1.0},
    ]
    records = records_of([1.0] * 12, [1.0] * 12, shallow)
    assert [f.rule for f in diagnose(records)] == ["saturated_start"]  # not vanishing_gradients
    deep = [{**shallow[0], "saturated": 0.0}, {**shallow[0], "layer": 2, "grad_norm": 1e-5},
            {**shallow[1], "layer": 3}]  # fmt: skip
    late = records_of([1.0] + [0.5] * 11, [1.0] + [1.2] * 11, None)
    late[-1]["diagnostics"] = deep  # the gradient vanishes at the last epoch only
    found = diagnose(late)
    assert [(f.rule, f.epoch) for f in found] == [("overfitting", 11), ("vanishing_gradients", 12)]
