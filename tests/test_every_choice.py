"""Every declared choice through every command, generated from the registries in mlp/.

A new optimizer, schedule or activation joins this matrix by being registered: no test here
names one. Each run is tiny (iris, one hidden layer of 4 units, two epochs) and goes through
train, eval --json, predict --proba, export (run by onnxruntime), resume with more epochs (or
its documented refusal) and gradcheck; cv and sweep run over every optimizer name.
"""

from __future__ import annotations

import ast
import csv
import io
import itertools
import json
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
from sklearn.datasets import load_iris

from cli.config import CLASS_WEIGHTS
from mlp.early_stopping import MONITORS
from mlp.functions import ACTIVATIONS, DEFAULT_ACTIVATION
from mlp.network import DTYPES
from mlp.optimizers import DEFAULT_OPTIMIZER, OPTIMIZERS
from mlp.schedules import DEFAULT_SCHEDULE, SCHEDULES

BATCH_OPTIMIZERS = [name for name, cls in OPTIMIZERS.items() if not cls.full_batch]
# Every optimizer x activation x dtype at the default schedule, then every other schedule with
# every batch optimizer (a full-batch optimizer refuses schedules: tested in test_config).
MATRIX = [
    (optimizer, activation, dtype, DEFAULT_SCHEDULE)
    for optimizer, activation, dtype in itertools.product(OPTIMIZERS, ACTIVATIONS, DTYPES)
] + [
    (optimizer, DEFAULT_ACTIVATION, "float64", schedule)
    for schedule, optimizer in itertools.product(SCHEDULES, BATCH_OPTIMIZERS)
    if schedule != DEFAULT_SCHEDULE
]


def case_id(case: tuple) -> str:
    return "-".join(case)


def loop_or_slow(case: tuple):
    """Each optimizer at the defaults stays in the fast loop (pytest -m "not slow"); the rest
    of the matrix is marked slow, and CI runs it all."""
    _, activation, dtype, schedule = case
    default = (activation, dtype, schedule) == (DEFAULT_ACTIVATION, DTYPES[0], DEFAULT_SCHEDULE)
    return pytest.param(case, id=case_id(case), marks=() if default else pytest.mark.slow)


def tiny_config(path: Path, optimizer: str, activation: str, dtype: str, schedule: str) -> Path:
    path.write_text(
        "seed: 1\n"
        "data: {dataset: iris, test_size: 0.2, val_size: 0.2}\n"
        f"model: {{hidden: [4], activation: {activation}, dtype: {dtype}}}\n"
        f"train: {{epochs: 2, batch_size: 16, optimizer: {{name: {optimizer}}},\n"
        f"        lr_schedule: {{name: {schedule}}}}}\n"
    )
    return path


@pytest.fixture(scope="module")
def iris_rows(tmp_path_factory) -> tuple[Path, np.ndarray]:
    """Every iris row as a CSV with the bundled set's feature names, and as a float32 array."""
    iris = load_iris()
    path = tmp_path_factory.mktemp("iris") / "iris.csv"
    with open(path, "w", newline="") as file:
        writer = csv.writer(file, lineterminator="\n")
        writer.writerow(iris.feature_names)
        writer.writerows([repr(float(v)) for v in row] for row in iris.data)
    return path, iris.data.astype(np.float32)


def ok(result) -> str:
    assert result.exit_code == 0, result.stderr or result.stdout
    return result.stdout


def predicted_probabilities(text: str) -> np.ndarray:
    rows = list(csv.reader(io.StringIO(text)))
    header = rows[0]
    columns = [i for i, name in enumerate(header) if name.startswith("p_")]
    return np.array([[float(row[i]) for i in columns] for row in rows[1:]])


def metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("case", [loop_or_slow(case) for case in MATRIX])
def test_every_choice_trains_evaluates_predicts_exports_resumes_and_gradchecks(
    mlp_cli, tmp_path, iris_rows, case
):
    schedule = case[3]
    config = tiny_config(tmp_path / "tiny.yaml", *case)
    run = tmp_path / "run"
    summary = json.loads(ok(mlp_cli("train", "--config", config, "--out", run, "--json")))
    assert summary["epochs"] == 2

    # eval: the recorded test rows, scored consistently with its own confusion matrix
    report = json.loads(ok(mlp_cli("eval", run, "--json")))
    matrix = np.array(report["confusion_matrix"])
    assert report["n"] == matrix.sum() == 30  # 20% of 150 rows
    assert report["accuracy"] == pytest.approx(np.trace(matrix) / matrix.sum())
    assert report["loss"] == pytest.approx(summary["final"]["test"]["loss"], rel=1e-12)
    recall = np.diag(matrix) / matrix.sum(axis=1)
    assert report["balanced_accuracy"] == pytest.approx(recall.mean())

    # predict --proba against the exported graph, run by an independent engine
    csv_path, X = iris_rows
    probabilities = predicted_probabilities(ok(mlp_cli("predict", run, csv_path, "--proba")))
    assert probabilities.shape == (150, 3)
    graph = tmp_path / "model.onnx"
    ok(mlp_cli("export", run, graph))
    session = onnxruntime.InferenceSession(str(graph), providers=["CPUExecutionProvider"])
    (onnx_probabilities,) = session.run(["probabilities"], {"input": X})
    np.testing.assert_allclose(onnx_probabilities, probabilities, atol=1e-5)

    # resume: one more epoch ends where an uninterrupted 3-epoch run ends, or is refused
    extended = mlp_cli("train", "--resume", run, "--set", "train.epochs=3", "--quiet")
    if SCHEDULES[schedule].uses_total_epochs:
        assert extended.exit_code == 2
        assert "train.epochs" in extended.stderr and schedule in extended.stderr
    else:
        assert extended.exit_code == 0, extended.stderr
        straight = tmp_path / "straight"
        ok(mlp_cli("train", "--config", config, "--out", straight, "--set", "train.epochs=3"))
        assert metrics(run) == [
            {**m, "seconds": e["seconds"]} for m, e in zip(metrics(straight), metrics(run))
        ]
        assert (run / "model.npz").read_bytes() == (straight / "model.npz").read_bytes()

    # gradcheck of the same network
    check = json.loads(ok(mlp_cli("gradcheck", "--config", config, "--samples", "8", "--json")))
    assert check["passed"] is True
    assert len(check["arrays"]) == 4  # W1, b1, W2, b2


CLASS_WEIGHT_FORMS = [*CLASS_WEIGHTS, "{setosa: 2, virginica: 0.5}"]


@pytest.mark.parametrize(
    "class_weight, monitor", list(zip(CLASS_WEIGHT_FORMS, itertools.cycle(MONITORS)))
)
def test_every_class_weight_and_monitor_trains_evaluates_resumes_and_gradchecks(
    mlp_cli, tmp_path, class_weight, monitor
):
    config = tiny_config(
        tmp_path / "tiny.yaml", DEFAULT_OPTIMIZER, DEFAULT_ACTIVATION, "float64", DEFAULT_SCHEDULE
    )
    weighted = (
        "--set", f"train.class_weight={class_weight}",
        "--set", f"train.early_stopping={{monitor: {monitor}, patience: 5}}",
    )  # fmt: skip
    run, straight = tmp_path / "run", tmp_path / "straight"
    ok(mlp_cli("train", "--config", config, "--out", run, *weighted))
    report = json.loads(ok(mlp_cli("eval", run, "--json")))
    assert {"balanced_accuracy", "macro_f1", "baseline_accuracy"} <= report.keys()
    ok(mlp_cli("train", "--resume", run, "--set", "train.epochs=3", "--quiet"))
    ok(
        mlp_cli(
            "train", "--config", config, "--out", straight, "--set", "train.epochs=3", *weighted
        )
    )
    assert (run / "model.npz").read_bytes() == (straight / "model.npz").read_bytes()
    check = json.loads(ok(mlp_cli("gradcheck", "--config", config, *weighted, "--json")))
    assert check["passed"] is True


@pytest.mark.parametrize(
    "optimizer",
    [pytest.param(o, marks=() if o == DEFAULT_OPTIMIZER else pytest.mark.slow) for o in OPTIMIZERS],
)
def test_every_optimizer_cross_validates(mlp_cli, tmp_path, optimizer):
    config = tiny_config(
        tmp_path / "tiny.yaml", optimizer, DEFAULT_ACTIVATION, "float64", DEFAULT_SCHEDULE
    )
    out = tmp_path / "cv"
    args = ("cv", "--config", config, "--folds", "2", "--jobs", "1", "--out", out, "--json")
    result = json.loads(ok(mlp_cli(*args)))
    assert [fold["status"] for fold in result["folds"]] == ["completed", "completed"]
    assert sum(fold["n"] for fold in result["folds"]) == 150  # each row held out once


def test_a_sweep_over_every_optimizer_name_trains_each(mlp_cli, tmp_path):
    config = tiny_config(
        tmp_path / "tiny.yaml", DEFAULT_OPTIMIZER, DEFAULT_ACTIVATION, "float64", DEFAULT_SCHEDULE
    )
    grid = tmp_path / "grid.yaml"
    grid.write_text(f"train.optimizer.name: {json.dumps(list(OPTIMIZERS))}\n")
    out = tmp_path / "sweep"
    result = json.loads(
        ok(
            mlp_cli(
                "sweep", "--config", config, "--grid", grid, "--jobs", "1", "--out", out, "--json"
            )
        )
    )
    assert sorted(p["status"] for p in result["points"]) == ["completed"] * len(OPTIMIZERS)
    names = {p["overrides"]["train.optimizer.name"] for p in result["points"]}
    assert names == set(OPTIMIZERS)


# -- no second declaration in cli/ ---------------------------------------------------------------

REGISTERED = set(OPTIMIZERS) | set(SCHEDULES) | set(ACTIVATIONS)
CLI = Path(__file__).resolve().parents[1] / "cli"


def string_literals(source: str) -> list[tuple[int, str]]:
    """(line, value) of every string constant in `source` that is not a docstring."""
    tree = ast.parse(source)
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                docstrings.add(id(body[0].value))
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


def test_cli_names_no_registered_optimizer_schedule_or_activation():
    found = [
        f"{path.name}:{line}: {value!r}"
        for path in sorted(CLI.glob("**/*.py"))
        for line, value in string_literals(path.read_text())
        if value in REGISTERED
    ]
    assert found == []


def test_the_literal_scan_finds_a_name_outside_docstrings():
    source = '"""adam in a docstring is fine."""\nif settings.name == "adam":\n    pass\n'
    assert [v for _, v in string_literals(source) if v in REGISTERED] == ["adam"]


# -- docs/adding-an-optimizer.md, followed to the letter -----------------------------------------

RECIPE = Path(__file__).resolve().parents[1] / "docs" / "adding-an-optimizer.md"


def recipe_module() -> str:
    """The first Python block of the recipe: the new optimizer's whole module."""
    text = RECIPE.read_text()
    start = text.index("```python\n") + len("```python\n")
    return text[start : text.index("```", start)]


def test_the_recipe_in_the_docs_adds_an_optimizer_that_trains_resumes_and_exports(
    mlp_cli, tmp_path, iris_rows, monkeypatch
):
    namespace: dict = {"__name__": "adagrad_from_the_docs"}
    exec(compile(recipe_module(), str(RECIPE), "exec"), namespace)  # the module, as written
    (cls,) = [v for v in namespace.values() if isinstance(v, type) and "name" in v.__dict__]
    monkeypatch.setitem(OPTIMIZERS, cls.name, cls)  # the registry's one line

    config = tiny_config(
        tmp_path / "tiny.yaml", cls.name, DEFAULT_ACTIVATION, "float64", DEFAULT_SCHEDULE
    )
    run, straight = tmp_path / "run", tmp_path / "straight"
    header = ok(mlp_cli("train", "--config", config, "--out", run))
    assert f"optimizer  {cls.name}: lr=0.01, eps=1e-10" in header
    ok(mlp_cli("train", "--resume", run, "--set", "train.epochs=3", "--quiet"))
    ok(mlp_cli("train", "--config", config, "--out", straight, "--set", "train.epochs=3"))
    assert (run / "model.npz").read_bytes() == (straight / "model.npz").read_bytes()

    csv_path, X = iris_rows
    probabilities = predicted_probabilities(ok(mlp_cli("predict", run, csv_path, "--proba")))
    ok(mlp_cli("export", run, tmp_path / "model.onnx"))
    session = onnxruntime.InferenceSession(
        str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    np.testing.assert_allclose(
        session.run(["probabilities"], {"input": X})[0], probabilities, atol=1e-5
    )
