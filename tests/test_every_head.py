"""Every output head through every command, generated from mlp/heads.py's registry.

A head joins this matrix by being registered, with a bundled dataset of its task: train,
eval (on the recorded test rows and with --data), predict, export (run by onnxruntime),
resume with more epochs, gradcheck, cv and sweep, each checked against numbers computed here
from the commands' own outputs by scikit-learn or NumPy.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
from sklearn.metrics import accuracy_score, mean_absolute_error, mean_squared_error, r2_score

from data import DATASETS
from mlp.early_stopping import MONITORS
from mlp.heads import HEADS


def bundled_set(task: str) -> str:
    """The smallest bundled dataset of a task: the head's stand-in data."""
    sets = [info for info in DATASETS.values() if info.task == task]
    return min(sets, key=lambda info: info.n_samples).name


HEAD_DATA = {name: bundled_set(head.task) for name, head in HEADS.items()}


def ok(result) -> str:
    assert result.exit_code == 0, result.stderr or result.stdout
    return result.stdout


def tiny_config(path: Path, head: str, *extra: str) -> Path:
    path.write_text(
        "seed: 1\n"
        f"task: {HEADS[head].task}\n"
        f"data: {{dataset: {HEAD_DATA[head]}, test_size: 0.2, val_size: 0.2}}\n"
        "model: {hidden: [4]}\n"
        "train: {epochs: 2, batch_size: 16, optimizer: {name: sgd, lr: 0.05}}\n" + "".join(extra)
    )
    return path


def rows_csv(path: Path, head: str) -> tuple[Path, np.ndarray, np.ndarray]:
    """The head's dataset as a CSV file: features by name, then its label or target columns."""
    dataset = DATASETS[HEAD_DATA[head]].load()
    X, y = dataset.X, dataset.y
    targets = dataset.classes.tolist() if HEADS[head].targets == "values" else ["label"]
    values = y if y.ndim == 2 else dataset.classes[y][:, None]
    with open(path, "w", newline="") as file:
        writer = csv.writer(file, lineterminator="\n")
        writer.writerow([*dataset.feature_names, *targets])
        for features, target in zip(X, values):
            writer.writerow([*(repr(float(v)) for v in features), *target.tolist()])
    return path, X.astype(np.float32), values


def table(text: str) -> tuple[list[str], list[list[str]]]:
    rows = list(csv.reader(io.StringIO(text)))
    return rows[0], rows[1:]


def metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("head", list(HEADS))
def test_every_head_trains_evaluates_predicts_exports_resumes_and_gradchecks(
    mlp_cli, tmp_path, head
):
    config = tiny_config(tmp_path / "tiny.yaml", head)
    run = tmp_path / "run"
    summary = json.loads(ok(mlp_cli("train", "--config", config, "--out", run, "--json")))
    score = HEADS[head].score
    assert summary["task"] == HEADS[head].task and summary["score"] == score
    assert {f"train_{score}", f"val_{score}"} <= metrics(run)[0].keys()

    # predict every row of a CSV, then eval --data on the same file: the figures eval gives
    # are those scikit-learn computes from predict's own output
    csv_path, X, truth = rows_csv(tmp_path / "rows.csv", head)
    header, rows = table(ok(mlp_cli("predict", run, csv_path)))
    report = json.loads(ok(mlp_cli("eval", run, "--data", csv_path, "--json")))
    assert report["n"] == len(rows) == len(X)
    if HEADS[head].targets == "values":
        assert header == ["prediction"]
        predicted = np.array([[float(v) for v in row] for row in rows])
        assert report["r2"] == pytest.approx(r2_score(truth, predicted), abs=1e-9)
        assert report["mse"] == pytest.approx(mean_squared_error(truth, predicted), rel=1e-9)
        assert report["mae"] == pytest.approx(mean_absolute_error(truth, predicted), rel=1e-9)
        assert report["rmse"] == pytest.approx(np.sqrt(report["mse"]), rel=1e-12)
        assert -1 < report["baseline_r2"] <= 0  # the training mean, scored on every row
        refused = mlp_cli("predict", run, csv_path, "--proba")
        assert refused.exit_code == 2 and "regression" in refused.stderr
        output, expected = "prediction", predicted
    else:
        assert header == ["prediction"]
        labels = np.array([row[0] for row in rows])
        assert report["accuracy"] == pytest.approx(accuracy_score(truth[:, 0], labels))
        _, rows_p = table(ok(mlp_cli("predict", run, csv_path, "--proba")))
        output, expected = "probabilities", np.array([[float(v) for v in r[1:]] for r in rows_p])

    # the exported graph, run by an independent engine, gives predict's numbers
    graph = tmp_path / "model.onnx"
    ok(mlp_cli("export", run, graph))
    session = onnxruntime.InferenceSession(str(graph), providers=["CPUExecutionProvider"])
    (exported,) = session.run([output], {"input": X})
    np.testing.assert_allclose(exported, expected, rtol=1e-5, atol=1e-5)

    # eval of the recorded test rows agrees with the run's own final figures
    recorded = json.loads(ok(mlp_cli("eval", run, "--json")))
    assert recorded[score] == pytest.approx(summary["final"]["test"][score], rel=1e-9)

    # resume: one more epoch ends bit for bit where an uninterrupted 3-epoch run ends
    ok(mlp_cli("train", "--resume", run, "--set", "train.epochs=3", "--quiet"))
    straight = tmp_path / "straight"
    ok(mlp_cli("train", "--config", config, "--out", straight, "--set", "train.epochs=3"))
    assert (run / "model.npz").read_bytes() == (straight / "model.npz").read_bytes()

    check = json.loads(ok(mlp_cli("gradcheck", "--config", config, "--samples", "8", "--json")))
    assert check["passed"] is True


@pytest.mark.parametrize("head", list(HEADS))
def test_every_head_cross_validates_and_sweeps_by_its_own_score(mlp_cli, tmp_path, head):
    config = tiny_config(tmp_path / "tiny.yaml", head)
    score = HEADS[head].score
    out = tmp_path / "cv"
    args = ("cv", "--config", config, "--folds", "2", "--jobs", "1", "--out", out, "--json")
    result = json.loads(ok(mlp_cli(*args)))
    assert result["score"] == score
    folds = result["folds"]
    assert result["mean"] == pytest.approx(np.mean([fold[score] for fold in folds]))
    assert sum(fold["n"] for fold in folds) == DATASETS[HEAD_DATA[head]].n_samples

    grid = tmp_path / "grid.yaml"
    grid.write_text("train.optimizer.lr: [0.001, 0.05]\n")
    out = tmp_path / "sweep"
    args = ("sweep", "--config", config, "--grid", grid, "--jobs", "1", "--out", out, "--json")
    points = json.loads(ok(mlp_cli(*args)))["points"]
    best = [point[f"best_val_{score}"] for point in points]
    assert best == sorted(best, reverse=True)  # ranked by the head's validation score


@pytest.mark.parametrize(
    "head, monitor",
    [
        (name, monitor)
        for name, head in HEADS.items()
        for monitor in ("val_loss", *(f"val_{s}" for s in head.val_scores))
    ],
)
def test_every_head_stops_early_on_each_figure_it_reports(mlp_cli, tmp_path, head, monitor):
    assert monitor in MONITORS
    config = tiny_config(tmp_path / "tiny.yaml", head)
    stopping = f"train.early_stopping={{monitor: {monitor}, patience: 1}}"
    args = ("train", "--config", config, "--out", tmp_path / "run", "--json")
    summary = json.loads(ok(mlp_cli(*args, "--set", stopping, "--set", "train.epochs=30")))
    assert summary["best"][monitor] is not None


def test_a_monitor_another_head_reports_is_refused_in_one_line(mlp_cli, tmp_path):
    for name, head in HEADS.items():
        others = {m for m in MONITORS} - {"val_loss", *(f"val_{s}" for s in head.val_scores)}
        for monitor in sorted(others):
            config = tiny_config(tmp_path / "tiny.yaml", name)
            result = mlp_cli(
                "train", "--config", config, "--out", tmp_path / "run",
                "--set", f"train.early_stopping={{monitor: {monitor}}}",
            )  # fmt: skip
            assert result.exit_code == 2
            assert monitor in result.stderr and head.task in result.stderr
            assert len(result.stderr.strip().splitlines()) == 1


def test_the_shipped_regression_config_goes_through_every_command(mlp_cli, tmp_path):
    config = Path(__file__).resolve().parents[1] / "configs" / "diabetes.yaml"
    fast = ("--set", "train.epochs=3")
    run = tmp_path / "run"
    summary = json.loads(ok(mlp_cli("train", "--config", config, "--out", run, "--json", *fast)))
    assert summary["task"] == "regression" and summary["epochs"] == 3
    report = json.loads(ok(mlp_cli("eval", run, "--json")))
    assert report["n"] == 89 and report["r2"] == pytest.approx(summary["final"]["test"]["r2"])
    csv_path, X, _ = rows_csv(tmp_path / "rows.csv", "identity")
    header, rows = table(ok(mlp_cli("predict", run, csv_path)))
    assert header == ["prediction"]
    graph = tmp_path / "d.onnx"
    ok(mlp_cli("export", run, graph))
    session = onnxruntime.InferenceSession(str(graph), providers=["CPUExecutionProvider"])
    (exported,) = session.run(["prediction"], {"input": X})
    np.testing.assert_allclose(exported[:, 0], [float(r[0]) for r in rows], rtol=1e-5)
    cv = ("cv", "--config", config, "--folds", "2", "--jobs", "1", "--out", tmp_path / "cv")
    assert json.loads(ok(mlp_cli(*cv, "--json", *fast)))["score"] == "r2"
    grid = tmp_path / "grid.yaml"
    grid.write_text("model.hidden: [[4], [8]]\n")
    sweep = ("sweep", "--config", config, "--grid", grid, "--jobs", "1", "--out", tmp_path / "s")
    points = json.loads(ok(mlp_cli(*sweep, "--json", *fast)))["points"]
    assert [p["status"] for p in points] == ["completed", "completed"]
    check = json.loads(ok(mlp_cli("gradcheck", "--config", config, "--json")))
    assert check["passed"] is True


def test_a_grid_that_varies_the_task_is_refused_before_any_point(mlp_cli, tmp_path):
    grid = tmp_path / "grid.yaml"
    config = tmp_path / "int.yaml"
    rows = "\n".join(f"{i % 7},{i % 3}" for i in range(40))
    (tmp_path / "int.csv").write_text("x,y\n" + rows + "\n")
    config.write_text("data: {dataset: int.csv, target: y}\ntrain: {epochs: 1}\n")
    grid.write_text("task: [regression, classification]\n")
    result = mlp_cli("sweep", "--config", config, "--grid", grid, "--out", tmp_path / "s2")
    assert result.exit_code == 2
    assert "sweep each task in a grid of its own" in result.stderr
    assert not (tmp_path / "s2").exists()


def test_runs_sorts_regressions_by_their_r2(mlp_cli, tmp_path):
    config = tiny_config(tmp_path / "tiny.yaml", "identity")
    for seed, epochs in ((1, 1), (2, 3)):
        out = tmp_path / "runs" / f"r{seed}"
        settings = ("--set", f"seed={seed}", "--set", f"train.epochs={epochs}")
        ok(mlp_cli("train", "--config", config, "--out", out, *settings, "--quiet"))
    listed = json.loads(ok(mlp_cli("runs", tmp_path / "runs", "--sort", "test_r2", "--json")))
    r2 = [row["test_r2"] for row in listed["runs"]]
    assert r2 == sorted(r2, reverse=True) and None not in r2
