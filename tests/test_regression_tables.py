"""Regression on tables as people export them: the task rule, numeric targets, several
targets, bad targets, plain splits, and files written as R and pandas write them, through
train, eval, predict and export."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import onnxruntime
import pandas as pd
import pytest
from sklearn.metrics import r2_score

from data import DataError, TableSettings, load_dataset, plain_folds, split_indices
from data.targets import MAX_AUTO_CLASSES


def ok(result) -> str:
    assert result.exit_code == 0, result.stderr or result.stdout
    return result.stdout


def frame(n: int = 60, seed: int = 100) -> pd.DataFrame:
    """Two numeric features, a text category and a price that depends on all three (drawn
    from another seed than the runs' 0: the same stream would make the split follow the sizes)."""
    rng = np.random.default_rng(seed)
    size = rng.uniform(30, 120, n).round(1)
    rooms = rng.integers(1, 6, n)
    town = rng.choice(["north", "south", "east"], n)
    price = 1000 * size + 5000 * rooms + np.where(town == "south", 20000, 0) + rng.normal(0, 500, n)
    return pd.DataFrame({"size": size, "rooms": rooms, "town": town, "price": price.round(2)})


def write_like_r(df: pd.DataFrame, path: Path) -> Path:
    """As R's write.csv(df): text quoted, row names "1", "2", ... first, under an empty name."""
    out = df.copy()
    out.index = [str(i) for i in range(1, len(df) + 1)]
    out.to_csv(path, index_label="", quoting=csv.QUOTE_NONNUMERIC)
    return path


def config(tmp_path: Path, dataset: Path, *lines: str) -> Path:
    path = tmp_path / "price.yaml"
    path.write_text(
        "seed: 0\n"
        f"data: {{dataset: {dataset.name}, target: price}}\n"
        "model: {hidden: [8]}\n"
        "train: {epochs: 30, batch_size: 8, optimizer: {name: adam, lr: 0.01}}\n" + "".join(lines)
    )
    return path


# -- the task rule -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "values, target, expected",
    [
        ([1.5, 2.25, 3.0, 4.75] * 5, "y", "regression"),  # non-integer numbers
        ([0, 1, 2] * 7, "y", "classification"),  # a few whole numbers: classes
        (["a", "b"] * 10, "y", "classification"),  # words
        ([1.5, 2.25, 3.0, 4.75] * 5, None, "classification"),  # no target: the last-column rule
    ],
)
def test_auto_picks_regression_only_for_a_named_column_of_non_integer_numbers(
    tmp_path, values, target, expected
):
    path = tmp_path / "t.csv"
    pd.DataFrame({"x": np.arange(len(values)) % 3, "y": values}).to_csv(path, index=False)
    if target is None and expected == "classification":
        with pytest.raises(DataError, match="looks like a feature"):  # today's rule, unchanged
            load_dataset(str(path), TableSettings(target=None))
        return
    assert load_dataset(str(path), TableSettings(target=target)).task == expected


def test_a_whole_number_target_with_many_values_asks_for_the_task(tmp_path):
    path = tmp_path / "t.csv"
    n = MAX_AUTO_CLASSES + 1
    pd.DataFrame({"x": np.arange(2 * n), "count": np.arange(2 * n) % n}).to_csv(path, index=False)
    with pytest.raises(DataError) as caught:
        load_dataset(str(path), TableSettings(target="count"))
    message = str(caught.value)
    assert "'count'" in message and f"{n} different whole numbers" in message
    assert "task: classification" in message and "task: regression" in message
    dataset = load_dataset(str(path), TableSettings(target="count", task="regression"))
    assert dataset.task == "regression" and dataset.y.shape == (2 * n, 1)


def test_a_list_of_targets_is_a_regression_with_one_output_each(tmp_path):
    path = tmp_path / "t.csv"
    df = frame()
    df["rent"] = df["price"] / 200
    df.to_csv(path, index=False)
    dataset = load_dataset(str(path), TableSettings(target=["price", "rent"]))
    assert dataset.task == "regression"
    assert dataset.classes.tolist() == ["price", "rent"]
    np.testing.assert_array_equal(dataset.y, df[["price", "rent"]].to_numpy())
    assert dataset.feature_names == ("size", "rooms", "town")  # neither target is a feature
    with pytest.raises(DataError, match="task: classification takes one label column"):
        load_dataset(str(path), TableSettings(target=["price", "rent"], task="classification"))


def test_a_bundled_set_keeps_its_own_task():
    assert load_dataset("diabetes").task == "regression"
    assert load_dataset("diabetes").y.shape == (442, 1)
    with pytest.raises(DataError, match="task: regression: iris is a classification set"):
        load_dataset("iris", TableSettings(task="regression"))


# -- splits ------------------------------------------------------------------------------------


def test_a_plain_split_holds_out_the_rounded_up_fraction_at_random_and_covers_every_row():
    y = np.arange(101, dtype=float)[:, None]
    rows = split_indices(
        y, test_size=0.2, val_size=0.1, rng=np.random.default_rng(5), stratify=False
    )
    assert len(rows.test) == 21 and len(rows.val) == 8  # ceil(20.2), ceil(0.1 * 80)
    together = np.concatenate([rows.train, rows.val, rows.test])
    assert sorted(together.tolist()) == list(range(101))
    again = split_indices(
        y, test_size=0.2, val_size=0.1, rng=np.random.default_rng(5), stratify=False
    )
    assert all(np.array_equal(a, b) for a, b in zip(rows.parts().values(), again.parts().values()))
    other = split_indices(
        y, test_size=0.2, val_size=0.1, rng=np.random.default_rng(6), stratify=False
    )
    assert not np.array_equal(rows.test, other.test)


def test_plain_folds_deal_every_row_to_one_fold_of_within_one_row_of_n_over_k():
    folds = plain_folds(np.zeros((23, 1)), 5, np.random.default_rng(0))
    assert sorted(np.concatenate(folds).tolist()) == list(range(23))
    assert sorted(len(f) for f in folds) == [4, 4, 5, 5, 5]
    with pytest.raises(DataError, match="only 3 rows, fewer than the folds"):
        plain_folds(np.zeros((3, 1)), 5, np.random.default_rng(0))


# -- bad targets, through the command line ------------------------------------------------------


def test_a_text_target_under_regression_names_the_column_and_its_first_word(mlp_cli, tmp_path):
    df = frame()
    df["price"] = df["price"].astype(object)
    df.loc[7, "price"] = "call us"
    df.to_csv(tmp_path / "p.csv", index=False)
    path = config(tmp_path, tmp_path / "p.csv", "task: regression\n")
    result = mlp_cli("train", "--config", path, "--out", tmp_path / "run")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "line 9" in lines[0] and "'price'" in lines[0] and "'call us'" in lines[0]


def test_rows_without_a_target_are_left_out_with_a_note(mlp_cli, tmp_path):
    df = frame()
    df.loc[[3, 10, 11], "price"] = np.nan
    df.to_csv(tmp_path / "p.csv", index=False)  # pandas writes the empty cells
    path = config(tmp_path, tmp_path / "p.csv")
    result = mlp_cli("train", "--config", path, "--out", tmp_path / "run", "--json")
    summary = json.loads(ok(result))
    assert "3 rows without a target value left out" in result.stderr
    assert sum(part["n"] for part in summary["final"].values()) == 57


def test_class_weights_are_refused_for_a_regression(mlp_cli, tmp_path):
    df = frame()
    df.to_csv(tmp_path / "p.csv", index=False)
    path = config(tmp_path, tmp_path / "p.csv")
    result = mlp_cli(
        "train", "--config", path, "--out", tmp_path / "run", "--set", "train.class_weight=balanced"
    )
    assert result.exit_code == 2
    assert "train.class_weight" in result.stderr and "regression" in result.stderr


# -- real files through every command ------------------------------------------------------------


@pytest.mark.parametrize("writer", ["R write.csv", "pandas to_csv"])
def test_an_exported_table_trains_evaluates_predicts_and_exports_a_regression(
    mlp_cli, tmp_path, writer
):
    df = frame(80)
    path = tmp_path / "homes.csv"
    if writer == "R write.csv":
        write_like_r(df, path)
    else:
        df.to_csv(path)  # pandas' own index: an unnamed first column of 0, 1, ...
    run = tmp_path / "run"
    train = mlp_cli("train", "--config", config(tmp_path, path), "--out", run, "--json")
    summary = json.loads(ok(train))
    assert summary["task"] == "regression"
    assert summary["final"]["test"]["r2"] > 0.5  # the price is nearly linear in the inputs

    new = tmp_path / "new.csv"
    frame(15, seed=101).to_csv(new, index=False)
    text = ok(mlp_cli("predict", run, new))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == ["prediction"]
    predicted = np.array([float(r["prediction"]) for r in rows])
    report = json.loads(ok(mlp_cli("eval", run, "--data", new, "--json")))
    truth = frame(15, seed=101)["price"].to_numpy()
    assert report["r2"] == pytest.approx(r2_score(truth, predicted), abs=1e-9)

    graph = tmp_path / "homes.onnx"
    ok(mlp_cli("export", run, graph))
    session = onnxruntime.InferenceSession(str(graph), providers=["CPUExecutionProvider"])
    new_rows = frame(15, seed=101)
    feeds = {
        "size": new_rows[["size"]].to_numpy(np.float32),
        "rooms": new_rows[["rooms"]].to_numpy(np.float32),
        "town": new_rows[["town"]].to_numpy(str).astype(object),
    }
    (exported,) = session.run(["prediction"], feeds)
    assert exported.shape == (15, 1) and exported.dtype == np.float32
    np.testing.assert_allclose(exported[:, 0], predicted, rtol=1e-5)


def test_two_targets_predict_two_columns_and_export_them(mlp_cli, tmp_path):
    df = frame(80)
    df["rent"] = (df["price"] / 150).round(2)
    df[["size", "rooms", "price", "rent"]].to_csv(tmp_path / "p.csv", index=False)
    path = config(tmp_path, tmp_path / "p.csv")
    path.write_text(path.read_text().replace("target: price", "target: [price, rent]"))
    run = tmp_path / "run"
    summary = json.loads(ok(mlp_cli("train", "--config", path, "--out", run, "--json")))
    assert summary["architecture"].endswith("-> 2")
    report = json.loads(ok(mlp_cli("eval", run, "--json")))
    assert [t["target"] for t in report["per_target"]] == ["price", "rent"]
    assert report["r2"] == pytest.approx(np.mean([t["r2"] for t in report["per_target"]]))
    text = ok(mlp_cli("predict", run, tmp_path / "p.csv"))
    header = text.splitlines()[0]
    assert header == "prediction_price,prediction_rent"
    values = np.loadtxt(io.StringIO(text), delimiter=",", skiprows=1)
    graph = tmp_path / "p.onnx"
    ok(mlp_cli("export", run, graph))
    session = onnxruntime.InferenceSession(str(graph), providers=["CPUExecutionProvider"])
    X = df[["size", "rooms"]].to_numpy(np.float32)
    (exported,) = session.run(["prediction"], {"input": X})
    np.testing.assert_allclose(exported, values, rtol=1e-5)


def test_a_number_column_with_a_stray_word_is_named_not_taken_as_classes(mlp_cli, tmp_path):
    df = frame()
    df["price"] = df["price"].astype(object)
    df.loc[10, "price"] = "n/a"
    df.to_csv(tmp_path / "p.csv", index=False)
    path = config(tmp_path, tmp_path / "p.csv")  # task: auto
    result = mlp_cli("train", "--config", path, "--out", tmp_path / "run")
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert "line 12, column 'price': 'n/a' is not a number, though 59 of its 60" in line
    assert "task: classification" in line


def test_eval_data_names_the_cell_that_is_no_number(mlp_cli, tmp_path):
    frame().to_csv(tmp_path / "p.csv", index=False)
    run = tmp_path / "run"
    ok(mlp_cli("train", "--config", config(tmp_path, tmp_path / "p.csv"), "--out", run, "--quiet"))
    other = frame(20, seed=7)
    other["price"] = other["price"].astype(object)
    other.loc[9, "price"] = "call us"
    other.to_csv(tmp_path / "other.csv", index=False)
    result = mlp_cli("eval", run, "--data", tmp_path / "other.csv")
    assert result.exit_code == 2
    assert "line 11, column 'price': 'call us' is not a number" in result.stderr


def test_a_fractional_last_column_offers_a_regression(mlp_cli, tmp_path):
    frame()[["size", "rooms", "price"]].to_csv(tmp_path / "p.csv", index=False)
    path = tmp_path / "c.yaml"
    path.write_text("data: {dataset: p.csv}\n")
    result = mlp_cli("train", "--config", path, "--out", tmp_path / "run")
    assert result.exit_code == 2 and "task: regression to predict 'price'" in result.stderr
    ok(mlp_cli("train", "--config", path, "--out", tmp_path / "run", "--set", "task=regression",
               "--set", "train.epochs=2", "--quiet"))  # fmt: skip


def test_export_says_when_float32_cannot_resolve_the_target(mlp_cli, tmp_path):
    df = frame()
    df["price"] = 1e12 + df["price"] / 1e5  # a huge offset, a spread of cents
    df.to_csv(tmp_path / "p.csv", index=False)
    run = tmp_path / "run"
    ok(mlp_cli("train", "--config", config(tmp_path, tmp_path / "p.csv"), "--out", run, "--quiet"))
    result = mlp_cli("export", run, tmp_path / "p.onnx")
    assert result.exit_code == 0, result.stderr
    assert "float32, whose steps near 1e+12 are 6.55e+04" in result.stderr
    frame().to_csv(tmp_path / "q.csv", index=False)  # an ordinary target: nothing to say
    ok(mlp_cli("train", "--config", config(tmp_path, tmp_path / "q.csv"), "--out", tmp_path / "r2",
               "--quiet"))  # fmt: skip
    assert "float32" not in mlp_cli("export", tmp_path / "r2", tmp_path / "q.onnx").stderr
