"""Activations, learning-rate schedules, early stopping, curves, runs and predict."""

import json
import math
import sys

import numpy as np
import pytest

from mlp import MLP, gradient_check
from mlp.early_stopping import EarlyStopping
from mlp.functions import relu, relu_derivative, tanh, tanh_derivative
from mlp.schedules import make_schedule
from mlp.training import EpochReport

BASE = (
    "seed: 2\n"
    "data: {dataset: iris, test_size: 0.2, val_size: 0.2}\n"
    "model: {hidden: [8]}\n"
    "train: {epochs: 12, batch_size: 16, optimizer: {name: sgd, lr: 0.1, momentum: 0.9}}\n"
)


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "base.yaml"
    path.write_text(BASE)
    return path


# -- activations -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fn", "derivative", "reference"),
    [(tanh, tanh_derivative, np.tanh), (relu, relu_derivative, lambda z: np.maximum(z, 0))],
)
def test_hidden_activations_and_their_derivatives_by_finite_differences(fn, derivative, reference):
    z = np.array([-2.0, -0.3, 0.4, 1.7])
    np.testing.assert_allclose(fn(z), reference(z), rtol=1e-15)
    h = 1e-6
    numerical = (fn(z + h) - fn(z - h)) / (2 * h)
    np.testing.assert_allclose(derivative(fn(z)), numerical, rtol=1e-7)


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_backprop_through_tanh_and_relu_passes_the_gradient_check(activation):
    rng = np.random.default_rng(4)
    model = MLP([5, 7, 6, 3], rng, activation=activation)
    X, y = rng.normal(size=(8, 5)), rng.integers(0, 3, size=8)
    assert max(r.max_rel_error for r in gradient_check(model, X, y, weight_decay=0.01)) < 1e-7


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_mlp_gradcheck_passes_for_each_activation(mlp_cli, config, activation):
    result = mlp_cli(
        "gradcheck", "--config", config, "--set", f"model.activation={activation}", "--json"
    )
    assert result.exit_code == 0 and json.loads(result.stdout)["passed"]


def test_relu_layers_start_with_he_scaled_weights():
    model = MLP([100, 50, 10], np.random.default_rng(0), activation="relu")
    assert np.abs(model.weights[0]).max() <= math.sqrt(2) * math.sqrt(6 / 150)
    assert np.abs(model.weights[0]).max() > math.sqrt(6 / 150)  # larger than plain Glorot
    assert np.abs(model.weights[1]).max() <= math.sqrt(6 / 60)  # the softmax layer: gain 1


# -- learning-rate schedules ---------------------------------------------------------------------


def test_schedules_by_hand():
    step = make_schedule("step", lr=0.1, epochs=10, step_size=3, gamma=0.5)
    assert [step(t) for t in range(1, 8)] == pytest.approx([0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025])
    exponential = make_schedule("exponential", lr=1.0, epochs=5, gamma=0.9)
    assert [exponential(t) for t in (1, 2, 3)] == pytest.approx([1.0, 0.9, 0.81])
    cosine = make_schedule("cosine", lr=1.0, epochs=4, min_lr=0.2)
    # 0.2 + 0.8 (1 + cos(pi (t - 1) / 4)) / 2 for t = 1..4
    expected = [0.2 + 0.8 * (1 + math.cos(math.pi * k / 4)) / 2 for k in range(4)]
    assert [cosine(t) for t in (1, 2, 3, 4)] == pytest.approx(expected)
    assert make_schedule("constant", lr=0.3, epochs=2)(2) == 0.3
    with pytest.raises(ValueError, match="constant, step, exponential, cosine"):
        make_schedule("warmup", lr=1.0, epochs=1)


def test_each_epochs_learning_rate_goes_into_the_metrics(mlp_cli, config, tmp_path):
    run = tmp_path / "run"
    result = mlp_cli(
        "train",
        "--config",
        config,
        "--out",
        run,
        "-q",
        "--set",
        "train.lr_schedule={name: step, step_size: 5, gamma: 0.1}",
    )
    assert result.exit_code == 0, result.stderr
    lrs = [json.loads(line)["lr"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert lrs == pytest.approx([0.1] * 5 + [0.01] * 5 + [0.001] * 2)


def test_a_schedule_with_a_bad_parameter_is_named(mlp_cli, config):
    result = mlp_cli(
        "train", "--config", config, "--set", "train.lr_schedule={name: step, gamma: 2}"
    )
    assert result.exit_code == 2 and "train.lr_schedule.gamma" in result.stderr
    result = mlp_cli("train", "--config", config, "--set", "train.lr_schedule.name=linear")
    assert result.exit_code == 2 and "constant, step, exponential, cosine" in result.stderr


# -- early stopping --------------------------------------------------------------------------------


def report(epoch, val_loss):
    scores = {"train_accuracy": 0.5, "val_accuracy": 0.5}
    return EpochReport(epoch, 1.0, val_loss, 0.1, 0.0, scores)


def test_early_stopping_counts_epochs_without_improvement():
    stopper = EarlyStopping("val_loss", patience=2, min_delta=0.05)
    params = np.zeros(3)
    decisions = [
        stopper.update(report(t, v), params + t)
        for t, v in enumerate([1.0, 0.9, 0.88, 0.87, 0.8, 0.79, 0.78], start=1)
    ]
    # improvements beyond 0.05: epochs 1, 2, 5; then two epochs without one
    assert decisions == [False, False, False, True, False, False, True]
    assert stopper.best_epoch == 5 and stopper.best_value == 0.8
    assert np.array_equal(stopper.best_params, params + 5)


def test_early_stopping_restores_the_best_epochs_weights(mlp_cli, config, tmp_path):
    run = tmp_path / "run"
    result = mlp_cli(
        "train",
        "--config",
        config,
        "--out",
        run,
        "--json",
        "--set",
        "train.epochs=200",
        "--set",
        "train.early_stopping={monitor: val_loss, patience: 3, min_delta: 0.01}",
    )
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    best = summary["best"]
    assert best["stopped_early"] and best["restored"]
    assert summary["epochs"] == best["epoch"] + 3 < 200
    # the same run for exactly best-epoch epochs ends on the same weights, bit for bit
    short = tmp_path / "short"
    mlp_cli(
        "train", "--config", config, "--out", short, "-q", "--set", f"train.epochs={best['epoch']}"
    )
    with np.load(run / "model.npz") as a, np.load(short / "model.npz") as b:
        for name in ("W1", "b1", "W2", "b2"):
            assert a[name].tobytes() == b[name].tobytes()


def test_early_stopping_without_a_validation_split_is_a_config_error(mlp_cli, config):
    result = mlp_cli(
        "train",
        "--config",
        config,
        "--set",
        "data.val_size=0",
        "--set",
        "train.early_stopping={patience: 2}",
    )
    assert result.exit_code == 2
    assert "train.early_stopping: needs a validation split" in result.stderr


# -- curves, runs, predict -------------------------------------------------------------------------


@pytest.fixture
def run(mlp_cli, config, tmp_path):
    out = tmp_path / "runs" / "first"
    assert mlp_cli("train", "--config", config, "--out", out, "-q").exit_code == 0
    return out


def test_train_and_curves_draw_loss_and_accuracy_charts(mlp_cli, config, run, tmp_path):
    shown = mlp_cli("train", "--config", config, "--out", tmp_path / "second").stdout
    assert "loss per epoch" in shown and "accuracy per epoch" in shown
    curves = mlp_cli("curves", run)
    assert curves.exit_code == 0
    assert "• train loss" in curves.stdout and "o validation loss" in curves.stdout
    assert "epoch 12" in curves.stdout


def test_curves_png_is_a_png(mlp_cli, run, tmp_path):
    pytest.importorskip("matplotlib")  # installed with the test extra
    png = tmp_path / "curves.png"
    assert mlp_cli("curves", run, "--png", png).exit_code == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_curves_png_without_matplotlib_says_how_to_install_it(mlp_cli, run, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now fails
    result = mlp_cli("curves", run, "--png", tmp_path / "c.png")
    assert result.exit_code == 2 and "pip install 'mlp-trainer[plot]'" in result.stderr
    assert result.stdout == ""  # said before drawing anything


def test_runs_lists_every_run_sortable_by_a_column(mlp_cli, config, run):
    mlp_cli(
        "train", "--config", config, "--out", run.parent / "second", "-q", "--set", "train.epochs=3"
    )
    rows = json.loads(mlp_cli("runs", run.parent, "--json").stdout)["runs"]
    assert {r["name"] for r in rows} == {"first", "second"}
    first = next(r for r in rows if r["name"] == "first")
    summary = json.loads((run / "summary.json").read_text())
    assert first["epochs"] == 12 and first["status"] == "completed"
    assert first["test_accuracy"] == summary["final"]["test"]["accuracy"]
    assert first["architecture"] == "4 -> 8 -> 3" and first["optimizer"] == "sgd lr=0.1"
    by_epochs = json.loads(mlp_cli("runs", run.parent, "--sort", "epochs", "--json").stdout)["runs"]
    assert [r["epochs"] for r in by_epochs] == [12, 3]
    table = mlp_cli("runs", run.parent).stdout
    assert "first" in table and "second" in table
    bad = mlp_cli("runs", run.parent, "--sort", "colour")
    assert bad.exit_code == 2 and "--sort colour" in bad.stderr


def test_predict_matches_eval_and_writes_probabilities(mlp_cli, run, tmp_path):
    from data import load_dataset

    iris = load_dataset("iris")
    csv = tmp_path / "flowers.csv"
    header = ",".join([*iris.feature_names, "note"])
    lines = [",".join([*map(repr, row.tolist()), "x"]) for row in iris.X]
    csv.write_text(header + "\n" + "\n".join(lines) + "\n")
    result = mlp_cli("predict", run, csv, "--proba")
    assert result.exit_code == 0, result.stderr
    rows = result.stdout.splitlines()
    assert rows[0] == "prediction,p_setosa,p_versicolor,p_virginica" and len(rows) == 151
    probabilities = np.array([[float(v) for v in row.split(",")[1:]] for row in rows[1:]])
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-12)
    labels = [row.split(",")[0] for row in rows[1:]]
    # the stored standardisation was applied: the model gets iris mostly right
    assert np.mean(np.array(labels) == iris.classes[iris.y]) > 0.9
    out = tmp_path / "predictions.csv"
    assert mlp_cli("predict", run, csv, "--out", out).exit_code == 0
    assert out.read_text().splitlines()[1:] == labels


@pytest.mark.parametrize(
    ("text", "culprit"),
    [
        ("a,b\n1,2\n", "missing the model's feature column(s) 'sepal length (cm)'"),
        ("", "empty"),
        (
            "sepal length (cm),sepal width (cm),petal length (cm),petal width (cm)\n",
            "no data rows",
        ),
        (
            "sepal length (cm),sepal width (cm),petal length (cm),petal width (cm)\n1,2,3\n",
            "line 2 has 3 fields",
        ),
        (
            "sepal length (cm),sepal width (cm),petal length (cm),petal width (cm)\n1,2,x,4\n",
            "line 2, column 'petal length (cm)': 'x' is not a number",
        ),
    ],
)
def test_predict_on_a_mismatched_csv_is_one_clear_line(mlp_cli, run, tmp_path, text, culprit):
    csv = tmp_path / "in.csv"
    csv.write_text(text)
    result = mlp_cli("predict", run, csv)
    assert result.exit_code == 2 and culprit in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
