"""`mlp explain`: the tutorials' worked example, and every quantity of every shipped config's
first step against NumPy written out here and against finite differences."""

# ruff: noqa: E741  (l numbers the layers, as in docs/math.md)
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cli.config import load_config
from cli.session import first_run_state
from mlp.gradcheck import numerical_gradient

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
SHIPPED = sorted(p.name for p in CONFIGS.glob("*.yaml"))

# The tutorial (../shared/seeds/, "The Softmax Function Derivative (Part 3)"): its softmax
# output, its loss, and its 15 entries (p_i - y_i) x_j printed class by class.
TUTORIAL_P = [0.19091352, 0.20353145, 0.21698333, 0.23132428, 0.15724743]
TUTORIAL_LOSS = 1.52793475  # -ln 0.21698333
TUTORIAL_GRADIENT = [
    0.01909135, 0.09545676, 0.07636541, 0.02035314, 0.10176572,
    0.08141258, -0.07830167, -0.39150833, -0.31320667, 0.02313243,
    0.11566214, 0.09252971, 0.01572474, 0.07862371, 0.06289897,
]  # fmt: skip


def explained(mlp_cli, config: Path | str, *args: str) -> dict[str, np.ndarray]:
    result = mlp_cli("explain", "--config", config, "--json", *args)
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    return {q["name"]: np.asarray(q["values"], dtype=np.float64) for q in report["quantities"]}


def digits(values) -> list[str]:
    """Numbers as the tutorial prints them: to 8 decimals."""
    return [f"{v:.8f}" for v in np.ravel(values)]


def test_the_tutorials_worked_example_step_by_step(mlp_cli):
    q = explained(mlp_cli, CONFIGS / "tutorial.yaml", "--sample", "0")
    np.testing.assert_allclose(q["a_0"], [[0.1, 0.5, 0.4]])
    np.testing.assert_array_equal(q["y"], [[0, 0, 1, 0, 0]])
    # every digit the tutorial prints: p, the loss, and dE/dW1 = x (p - y)^T (3 x 5: inputs
    # by classes), which the tutorial lists class by class
    assert digits(q["p"]) == digits(TUTORIAL_P)
    assert f"{float(q['E']):.8f}" == f"{TUTORIAL_LOSS:.8f}"
    assert digits(q["dE/dW_1"].T) == digits(TUTORIAL_GRADIENT)


def test_the_text_shows_each_quantity_with_its_equation(mlp_cli):
    result = mlp_cli("explain", "--config", CONFIGS / "tutorial.yaml")
    assert result.exit_code == 0, result.stderr
    text = result.stdout
    for line in ("p = softmax(z_L)", "delta_L = (p - y) / B", "dE/dW_1 = a_0^T delta_1"):
        assert line in text
    assert "0.21698333" in text and "1.52793475" in text and "-0.39150833" in text
    order = [text.index(name) for name in ("a_0 ", "z_1 ", "p ", "E ", "delta_1 ", "dE/dW_1 ")]
    assert order == sorted(order)  # the derivation's order


def by_hand(q: dict, activation: str, head: str, n_layers: int) -> dict[str, np.ndarray]:
    """The step's quantities recomputed from x, y and the weights before the step."""
    functions = {
        "sigmoid": (lambda z: 1 / (1 + np.exp(-z)), lambda a: a * (1 - a)),
        "tanh": (np.tanh, lambda a: 1 - a**2),
        "relu": (lambda z: np.maximum(z, 0), lambda a: (a > 0).astype(float)),
    }
    f, f_prime = functions[activation]
    W = {l: q[f"W_{l} after"] - q[f"dW_{l}"] for l in range(1, n_layers + 1)}
    b = {l: q[f"b_{l} after"] - q[f"db_{l}"] for l in range(1, n_layers + 1)}
    a, y = {0: q["a_0"]}, q["y"]
    out = {}
    for l in range(1, n_layers + 1):
        out[f"z_{l}"] = a[l - 1] @ W[l] + b[l]
        if l < n_layers:
            a[l] = out[f"a_{l}"] = f(out[f"z_{l}"])
    z, B = out[f"z_{n_layers}"], len(y)
    if head == "softmax":
        e = np.exp(z - z.max(axis=1, keepdims=True))
        out["p"] = e / e.sum(axis=1, keepdims=True)
        out["E"] = np.array(-np.mean(np.log((out["p"] * y).sum(axis=1))))
        delta = (out["p"] - y) / B
    else:
        out["y_hat"] = z
        out["E"] = np.array(0.5 * np.sum((z - y) ** 2) / B)
        delta = (z - y) / B
    for l in range(n_layers, 0, -1):
        out[f"delta_{l}"] = delta
        out[f"dE/dW_{l}"] = a[l - 1].T @ delta
        out[f"dE/db_{l}"] = delta.sum(axis=0)
        if l > 1:
            delta = (delta @ W[l].T) * f_prime(a[l - 1])
    return out


@pytest.mark.parametrize("name", SHIPPED)
def test_every_quantity_of_every_shipped_config_matches_numpy_by_hand(mlp_cli, name):
    path = CONFIGS / name
    config = load_config(path)
    q = explained(mlp_cli, path, "--batch", "3")
    n_layers = len(config.model.hidden) + 1
    head = "identity" if "y_hat" in q else "softmax"
    expected = by_hand(q, config.model.activation, head, n_layers)
    for key, value in expected.items():
        np.testing.assert_allclose(q[key], value, rtol=1e-9, atol=1e-12, err_msg=key)
    # the update, from the optimizer's own rule for a first step
    optimizer = config.train.optimizer
    for l in range(1, n_layers + 1):
        g = q[f"dE/dW_{l}"]
        if optimizer.name == "sgd":  # v = -lr g from v = 0: theta + v
            expected_step = -optimizer.lr * g
        elif optimizer.name == "adam":  # m_hat = g, v_hat = g^2 after one step
            expected_step = -optimizer.lr * g / (np.abs(g) + optimizer.eps)
        else:
            continue
        np.testing.assert_allclose(q[f"dW_{l}"], expected_step, rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("name", SHIPPED)
def test_the_explained_gradients_are_the_finite_differences_of_the_loss(mlp_cli, name):
    path = CONFIGS / name
    q = explained(mlp_cli, path, "--batch", "2")
    _, data, model, _, _ = first_run_state(load_config(path))
    X, y = (part[:2] for part in data.parts["train"])
    analytic = np.concatenate(
        [
            np.concatenate([q[f"dE/dW_{l}"].ravel(), q[f"dE/db_{l}"].ravel()])
            for l in range(1, model.n_layers + 1)
        ]
    )
    rng = np.random.default_rng(0)
    indices = np.sort(rng.choice(model.n_params, size=min(model.n_params, 150), replace=False))
    numerical = numerical_gradient(model.copy(np.float64), X, y, indices, eps=1e-6)
    np.testing.assert_allclose(analytic[indices], numerical, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("name", ["iris.yaml", "diabetes.yaml"])
def test_explain_on_every_training_row_is_mlp_trains_first_step(mlp_cli, tmp_path, name):
    # one batch of all the training rows: the order shuffling picks changes nothing but the
    # order of a sum, so the weights after train's only step are explain's to the last bits
    config = CONFIGS / name
    n_train = len(first_run_state(load_config(config))[1].parts["train"][1])
    q = explained(mlp_cli, config, "--batch", str(n_train), "--set", f"train.batch_size={n_train}")
    run = tmp_path / "run"
    one_step = ("--set", f"train.batch_size={n_train}", "--set", "train.epochs=1")
    result = mlp_cli("train", "--config", config, "--out", run, *one_step, "--quiet")
    assert result.exit_code == 0, result.stderr
    with np.load(run / "model.npz") as model:
        for l in (1, 2):
            np.testing.assert_allclose(q[f"W_{l} after"], model[f"W{l}"], rtol=1e-12, atol=1e-15)


def test_a_step_that_overflows_still_gives_strict_json(mlp_cli):
    # weight decay 1e308: the L2 penalty and the step both pass float64's largest number
    result = mlp_cli(
        "explain", "--config", CONFIGS / "iris.yaml", "--json",
        "--set", "train.weight_decay=1e308", "--set", "train.optimizer.momentum=0",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout, parse_constant=lambda name: pytest.fail(name))
    loss = next(q for q in report["quantities"] if q["name"] == "E")
    assert loss["values"] is None  # the penalty overflowed: null, not a bare Infinity


def test_the_shipped_tutorial_files_are_what_data_examples_writes():
    import csv

    from data.examples import TUTORIAL_P, tutorial_rows, tutorial_weights

    with open(CONFIGS / "tutorial.csv", newline="") as file:
        assert list(csv.reader(file)) == tutorial_rows()
    with np.load(CONFIGS / "tutorial-init.npz") as shipped:
        for name, array in tutorial_weights().items():
            np.testing.assert_array_equal(shipped[name], array)
    p = np.exp(tutorial_weights()["b1"])
    assert p.sum() == pytest.approx(1.0, abs=1e-15)
    assert digits(p) == digits(TUTORIAL_P)  # every printed digit kept


def test_the_readme_shows_what_explain_prints(mlp_cli):
    readme = (CONFIGS.parent / "README.md").read_text()
    block = readme.split("$ mlp explain --config configs/tutorial.yaml\n", 1)[1].split("```")[0]
    printed = mlp_cli("explain", "--config", CONFIGS / "tutorial.yaml").stdout
    for line in block.splitlines():
        assert line in printed.splitlines(), line


def test_lbfgs_shows_its_direction_and_step(mlp_cli):
    q = explained(
        mlp_cli, CONFIGS / "iris.yaml", "--batch", "8", "--set", "train.optimizer={name: lbfgs}"
    )
    gradient = np.concatenate(
        [np.concatenate([q[f"dE/dW_{l}"].ravel(), q[f"dE/db_{l}"].ravel()]) for l in (1, 2)]
    )
    # the first iteration has no pairs yet: H = I, so the direction is the steepest descent
    np.testing.assert_allclose(q["p"], -gradient, rtol=1e-12)
    step = np.concatenate(
        [np.concatenate([q[f"dW_{l}"].ravel(), q[f"db_{l}"].ravel()]) for l in (1, 2)]
    )
    np.testing.assert_allclose(step, float(q["alpha"]) * q["p"], rtol=1e-9, atol=1e-15)
    assert float(q["alpha"]) > 0


@pytest.mark.parametrize(
    "args, message",
    [
        (("--sample", "500"), "--sample 500: the training part has 108 rows (0 to 107)"),
        (("--sample", "1", "--batch", "2"), "--sample and --batch: choose one"),
        (("--batch", "1000"), "--batch 1000: the training part has 108 rows"),
    ],
)
def test_rows_that_do_not_exist_are_refused_in_one_line(mlp_cli, args, message):
    result = mlp_cli("explain", "--config", CONFIGS / "iris.yaml", *args)
    assert result.exit_code == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_class_weights_show_the_weighted_objective_and_delta(mlp_cli):
    q = explained(mlp_cli, CONFIGS / "iris.yaml", "--batch", "108", "--set",
                  "train.class_weight={setosa: 3}")  # fmt: skip
    report = mlp_cli("explain", "--config", CONFIGS / "iris.yaml", "--batch", "12", "--set",
                     "train.class_weight={setosa: 3}").stdout  # fmt: skip
    assert "E = sum_i w_i E_i / sum_i w_i" in report and "delta_L = w_i (p_i - y_i)" in report
    w = np.where(q["y"][:, 0] == 1, 3.0, 1.0)  # setosa is the first class
    assert 0 < (w == 3).sum() < len(w)  # the rows hold setosa and other classes
    expected = w[:, None] * (q["p"] - q["y"]) / w.sum()
    np.testing.assert_allclose(q["delta_2"], expected, rtol=1e-12)
    per_row = -np.log((q["p"] * q["y"]).sum(axis=1))
    assert float(q["E"]) == pytest.approx((w * per_row).sum() / w.sum(), rel=1e-12)


def test_a_full_batch_optimizer_steps_on_every_training_row_by_default(mlp_cli):
    q = explained(mlp_cli, CONFIGS / "iris.yaml", "--set", "train.optimizer={name: lbfgs}")
    assert q["a_0"].shape == (108, 4)  # L-BFGS trains on the whole set at each step


def test_json_past_its_limit_is_refused_in_one_line(mlp_cli, monkeypatch):
    import cli.explain

    monkeypatch.setattr(cli.explain, "MAX_JSON_NUMBERS", 100)
    result = mlp_cli("explain", "--config", CONFIGS / "iris.yaml", "--json")
    assert result.exit_code == 2
    assert json.loads(result.stdout)["error"].startswith("--json: this step holds")
