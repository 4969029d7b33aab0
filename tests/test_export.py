"""`mlp export`: the ONNX graph, run by onnxruntime, gives `mlp predict --proba`'s numbers."""

import csv
import io
import json
import sys

import numpy as np
import onnx
import onnxruntime
import pytest
from sklearn.datasets import load_iris


def write_rows(path, rows):
    with open(path, "w", newline="") as file:
        csv.writer(file, lineterminator="\n").writerows(rows)
    return path


def iris_csv(path):
    """Every iris row, its features named as `mlp datasets iris` lists them."""
    iris = load_iris()
    rows = [list(iris.feature_names)] + [[repr(float(v)) for v in row] for row in iris.data]
    return write_rows(path, rows), iris.data.astype(np.float32)


def predicted(mlp_cli, run, csv_path):
    """`mlp predict --proba` as (labels, probabilities)."""
    result = mlp_cli("predict", run, csv_path, "--proba")
    assert result.exit_code == 0, result.stderr
    rows = list(csv.reader(io.StringIO(result.stdout)))
    labels = [row[0] for row in rows[1:]]
    return labels, np.array([[float(v) for v in row[1:]] for row in rows[1:]])


def run_graph(path, X):
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["probabilities", "label"], {"input": X})


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
def test_the_graph_gives_predicts_probabilities_for_depths_one_to_three(
    mlp_cli, tmp_path, activation
):
    csv_path, X = iris_csv(tmp_path / "iris.csv")
    for depth in (1, 2, 3):
        config = tmp_path / f"{activation}-{depth}.yaml"
        config.write_text(
            f"seed: {depth}\ndata: {{dataset: iris, test_size: 0.2}}\n"
            f"model: {{hidden: {[6, 5, 4][:depth]}, activation: {activation}}}\n"
            "train: {epochs: 4, batch_size: 16, optimizer: {name: adam, lr: 0.05}}\n"
        )
        run, graph = tmp_path / f"run-{depth}", tmp_path / f"{activation}-{depth}.onnx"
        assert mlp_cli("train", "--config", config, "--out", run, "-q").exit_code == 0
        result = mlp_cli("export", run, graph, "--json")
        assert result.exit_code == 0, result.stderr
        assert json.loads(result.stdout)["opset"] >= 17
        labels, expected = predicted(mlp_cli, run, csv_path)
        probabilities, label = run_graph(graph, X)
        assert probabilities.dtype == np.float32 and label.dtype == np.int64
        np.testing.assert_allclose(probabilities, expected, atol=1e-5, rtol=0)
        # the label is an index into the class names the graph carries
        meta = {p.key: p.value for p in onnx.load(graph).metadata_props}
        classes = json.loads(meta["classes"])
        assert classes == ["setosa", "versicolor", "virginica"]
        assert [classes[i] for i in label] == labels
        assert json.loads(meta["feature_names"]) == list(load_iris().feature_names)


def test_a_numeric_csv_run_exports_its_scaling_and_fills_missing_cells(mlp_cli, tmp_path):
    rng = np.random.default_rng(0)
    size, weight = rng.normal(3, 1, 80), rng.normal(50, 10, 80)
    rows = [["size", "weight", "kind"]]
    rows += [[f"{s:.3f}", f"{w:.2f}", "a" if s > 3 else "b"] for s, w in zip(size, weight)]
    rows[5][1] = ""  # a missing cell, filled with the training mean (missing: impute)
    data = write_rows(tmp_path / "t.csv", rows)
    config = tmp_path / "t.yaml"
    config.write_text(
        "seed: 1\ndata: {dataset: t.csv, test_size: 0.25, missing: impute}\n"
        "model: {hidden: [4], dtype: float32}\n"
        "train: {epochs: 4, batch_size: 8, optimizer: {name: adam, lr: 0.05}}\n"
    )
    run = tmp_path / "run"
    assert mlp_cli("train", "--config", config, "--out", run, "-q").exit_code == 0
    assert mlp_cli("export", run, tmp_path / "t.onnx").exit_code == 0
    X = np.array([[float(c) if c else np.nan for c in row[:2]] for row in rows[1:]], np.float32)
    _, expected = predicted(mlp_cli, run, data)
    probabilities, _ = run_graph(tmp_path / "t.onnx", X)
    np.testing.assert_allclose(probabilities, expected, atol=1e-5, rtol=0)
    assert np.isfinite(probabilities[4]).all()


def column_feed(session, rows, header):
    """One array per graph input from CSV rows, as the README shows: text as written (an
    empty string where missing), numbers as float32 (NaN where missing)."""
    feed = {}
    for graph_input in session.get_inputs():
        cells = [row[header.index(graph_input.name)] for row in rows]
        if graph_input.type == "tensor(string)":
            feed[graph_input.name] = np.array(cells, dtype=object).reshape(-1, 1)
        else:
            numbers = [float(c) if c not in ("", "NA") else np.nan for c in cells]
            feed[graph_input.name] = np.array(numbers, dtype=np.float32).reshape(-1, 1)
    return feed


def test_a_run_with_text_columns_exports_one_input_per_column(mlp_cli, tmp_path):
    rng = np.random.default_rng(5)
    header = ["colour", "size", "shop", "zone", "kind"]
    rows = [header]
    for i in range(60):
        colour = ["red", "blue", "green"][i % 3]
        size = f"{rng.normal(3 if colour == 'red' else 1):.3f}" if i % 11 else ""
        shop = f"s{i % 9}" if i % 13 else "NA"  # 9 shops, capped to 4 columns below
        rows.append([colour if i % 7 else "", size, shop, str(i % 4), "ab"[colour == "red"]])
    write_rows(tmp_path / "c.csv", rows)
    config = tmp_path / "c.yaml"
    config.write_text(
        "seed: 1\ndata: {dataset: c.csv, test_size: 0.25, missing: impute, "
        "categorical: [colour, shop, zone], max_categories: 4}\nmodel: {hidden: [3]}\n"
        "train: {epochs: 2, batch_size: 8}\n"
    )
    run = tmp_path / "run"
    assert mlp_cli("train", "--config", config, "--out", run, "-q").exit_code == 0
    result = mlp_cli("export", run, tmp_path / "c.onnx", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["graph_inputs"] == [
        {"name": "colour", "type": "string", "shape": "N x 1"},
        {"name": "size", "type": "float32", "shape": "N x 1"},
        {"name": "shop", "type": "string", "shape": "N x 1"},
        {"name": "zone", "type": "string", "shape": "N x 1"},
    ]
    # unseen categories (purple, s99, zone 7), missing cells ("" and NA), infrequent shops
    new = [
        header[:4],
        ["red", "2.5", "s0", "1"],
        ["purple", "", "s99", "7"],
        ["", "NA", "", "0"],
        ["blue", "0.5", "NA", "3"],
        *([c, "1.0", f"s{k}", str(k % 4)] for k, c in enumerate(["green", "red"] * 5)),
    ]
    write_rows(tmp_path / "new.csv", new)
    _, expected = predicted(mlp_cli, run, tmp_path / "new.csv")
    session = onnxruntime.InferenceSession(
        str(tmp_path / "c.onnx"), providers=["CPUExecutionProvider"]
    )
    probabilities, label = session.run(
        ["probabilities", "label"], column_feed(session, new[1:], new[0])
    )
    np.testing.assert_allclose(probabilities, expected, atol=1e-5, rtol=0)
    assert label.tolist() == expected.argmax(axis=1).tolist()


def test_without_onnx_the_command_says_how_to_install_it(
    mlp_cli, iris_config, tmp_path, monkeypatch
):
    run = tmp_path / "run"
    assert mlp_cli("train", "--config", iris_config, "--out", run, "-q").exit_code == 0
    monkeypatch.setitem(sys.modules, "onnx", None)  # as if it were not installed
    result = mlp_cli("export", run, tmp_path / "m.onnx")
    assert result.exit_code == 2
    assert "pip install 'mlp-trainer[onnx]'" in result.stderr
    assert not (tmp_path / "m.onnx").exists()


def test_the_readmes_onnxruntime_example_runs_as_written(mlp_cli, tmp_path, monkeypatch):
    import contextlib
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    [code] = re.findall(r"### `mlp export`.*?```python\n(.*?)```", readme, re.DOTALL)
    config = Path(__file__).resolve().parent.parent / "configs" / "iris.yaml"
    monkeypatch.chdir(tmp_path)
    assert mlp_cli("train", "--config", config, "--out", "run", "-q").exit_code == 0
    assert mlp_cli("export", "run", "iris.onnx").exit_code == 0
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, "README.md", "exec"), {})
    assert printed.getvalue().startswith("['setosa', 'virginica'] [[0.99")


def test_the_readmes_per_column_example_runs_as_written(mlp_cli, tmp_path, monkeypatch):
    import contextlib
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    readme = (root / "README.md").read_text()
    code = re.findall(r"### `mlp export`.*?```python\n.*?```.*?```python\n(.*?)```", readme, re.S)[
        0
    ]
    monkeypatch.chdir(tmp_path)
    config = root / "configs" / "wine-mixed.yaml"
    cheap = ("--set", "train.epochs=20")
    assert mlp_cli("train", "--config", config, "--out", "run", "-q", *cheap).exit_code == 0
    assert mlp_cli("export", "run", "wine.onnx").exit_code == 0
    lines = (root / "configs" / "wine-mixed.csv").read_text().splitlines()
    Path("new-bottles.csv").write_text("\n".join(lines[:6]) + "\n")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, "README.md", "exec"), {})
    assert printed.getvalue().startswith("(5, 3) [0 0 0]")


@pytest.mark.parametrize(
    "names", [["x", "z1", "W1", "col0"], ["input", "a0", "onehot0", "index1"]], ids=["x", "input"]
)
def test_columns_named_like_the_graphs_own_tensors_export_and_agree(mlp_cli, tmp_path, names):
    """A column called `x` or `W1` (common in real files) is an input of its own name; the
    graph's inner names never collide with it."""
    rng = np.random.default_rng(2)
    rows = [[*names, "kind"]]
    for i in range(40):
        colour = ["red", "blue"][i % 2]
        rows.append(
            [
                f"{rng.normal():.3f}",
                colour,
                f"{rng.normal(2 * (i % 2)):.3f}",
                "ab"[i % 3 == 0],
                "pq"[i % 2],
            ]
        )
    write_rows(tmp_path / "c.csv", rows)
    config = tmp_path / "c.yaml"
    config.write_text(
        "data: {dataset: c.csv, test_size: 0.25}\nmodel: {hidden: [3]}\n"
        "train: {epochs: 2, batch_size: 8}\n"
    )
    run, graph = tmp_path / "run", tmp_path / "c.onnx"
    assert mlp_cli("train", "--config", config, "--out", run, "-q").exit_code == 0
    result = mlp_cli("export", run, graph, "--json")
    assert result.exit_code == 0, result.stderr
    assert [i["name"] for i in json.loads(result.stdout)["graph_inputs"]] == names
    new = [names, *(row[:4] for row in rows[1:11])]
    write_rows(tmp_path / "new.csv", new)
    _, expected = predicted(mlp_cli, run, tmp_path / "new.csv")
    session = onnxruntime.InferenceSession(str(graph), providers=["CPUExecutionProvider"])
    (probabilities,) = session.run(["probabilities"], column_feed(session, new[1:], new[0]))
    np.testing.assert_allclose(probabilities, expected, atol=1e-5, rtol=0)


def test_a_column_named_like_a_graph_output_is_refused_in_one_line(mlp_cli, tmp_path):
    rows = [["label", "colour", "kind"]]
    rows += [[f"{i / 7:.3f}", ["red", "blue"][i % 2], "pq"[i % 2]] for i in range(30)]
    write_rows(tmp_path / "c.csv", rows)
    config = tmp_path / "c.yaml"
    config.write_text("data: {dataset: c.csv}\nmodel: {hidden: [2]}\ntrain: {epochs: 1}\n")
    run = tmp_path / "run"
    assert mlp_cli("train", "--config", config, "--out", run, "-q").exit_code == 0
    result = mlp_cli("export", run, tmp_path / "c.onnx", "--json")
    assert result.exit_code == 2
    assert "column 'label' has a name the graph reserves" in json.loads(result.stdout)["error"]
    assert not (tmp_path / "c.onnx").exists()
