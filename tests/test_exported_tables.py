"""Tables as people export them, through the command: R's write.csv and pandas' to_csv files,
ids kept as text, id-like and high-cardinality columns, decimal commas, class weights and the
metrics that show imbalance, big confusion matrices, moved data on --resume.

Expected values come from the file text written in each test, from scikit-learn (metrics,
OneHotEncoder) or from formulas written out here in NumPy.
"""

import json

import numpy as np
import pytest
import yaml

from data.encoding import Preprocessor
from data.table import read_table

# R's write.csv(iris[c(1:4, 51:54, 101:104), c(1, 2, 5)]): quoted text and row names, bare
# numbers, NA for a missing value (none here: the features are complete)
R_EXPORT = """"","Sepal.Length","Sepal.Width","Species"
"1",5.1,3.5,"setosa"
"2",4.9,3,"setosa"
"3",4.7,3.2,"setosa"
"4",4.6,3.1,"setosa"
"51",7,3.2,"versicolor"
"52",6.4,3.2,"versicolor"
"53",6.9,3.1,"versicolor"
"54",5.5,2.3,"versicolor"
"101",6.3,3.3,"virginica"
"102",5.8,2.7,"virginica"
"103",7.1,3,"virginica"
"104",6.3,2.9,"virginica"
"""

# pandas' DataFrame.to_csv() of the same rows with a default index: unquoted, the index's
# header cell empty, an empty cell for a missing text value
PANDAS_EXPORT = """,sepal_length,colour,species
0,5.1,red,setosa
1,4.9,,setosa
2,4.7,red,setosa
3,4.6,red,setosa
4,7.0,blue,versicolor
5,6.4,blue,versicolor
6,6.9,blue,versicolor
7,5.5,,versicolor
8,6.3,green,virginica
9,5.8,green,virginica
10,7.1,green,virginica
11,6.3,green,virginica
"""


def write(path, text):
    path.write_text(text, encoding="utf-8", newline="")
    return path


def config(folder, dataset, data="", train="", name="t.yaml"):
    path = folder / name
    path.write_text(
        f"seed: 0\ndata: {{dataset: {dataset}, test_size: 0, val_size: 0{data}}}\n"
        "model: {hidden: [4]}\n"
        f"train: {{epochs: 2, batch_size: 8{train}}}\n"
    )
    return path


def ok(result):
    assert result.exit_code == 0, result.stderr
    return result


# -- row names and indexes ---------------------------------------------------------------------


def test_an_r_export_trains_with_its_row_names_as_the_id(mlp_cli, tmp_path):
    write(tmp_path / "iris.csv", R_EXPORT)
    run = tmp_path / "run"
    cfg = config(tmp_path, "iris.csv", ", target: Species")
    result = ok(mlp_cli("train", "--config", cfg, "--out", run))
    assert "id 'rownames' (the row names" in result.stdout
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["data"]["id"] == "rownames"
    assert json.loads((run / "data.json").read_text())["feature_names"] == [
        "Sepal.Length",
        "Sepal.Width",
    ]
    predicted = ok(mlp_cli("predict", run, tmp_path / "iris.csv")).stdout.splitlines()
    assert predicted[0] == "rownames,prediction"
    assert [line.split(",")[0] for line in predicted[1:]] == [
        "1", "2", "3", "4", "51", "52", "53", "54", "101", "102", "103", "104"
    ]  # fmt: skip
    # eval and --resume read the file the same way, through the recorded data.id
    ok(mlp_cli("eval", run, "--split", "train"))
    ok(mlp_cli("train", "--resume", run, "--set", "train.epochs=3"))
    # and so does the original config file, which never named the id
    ok(mlp_cli("train", "--resume", run, "--config", cfg, "--set", "train.epochs=4"))


def test_a_pandas_export_trains_with_its_index_as_the_id(mlp_cli, tmp_path):
    write(tmp_path / "p.csv", PANDAS_EXPORT)
    run = tmp_path / "run"
    cfg = config(tmp_path, "p.csv", ", missing: impute")
    ok(mlp_cli("train", "--config", cfg, "--out", run))
    data = json.loads((run / "data.json").read_text())
    assert data["id"] == "rownames" and data["target"] == "species"
    assert data["feature_names"] == ["sepal_length", "colour"]
    table = read_table(tmp_path / "p.csv")
    assert table.rownames == "rownames" and table.column("colour").missing.sum() == 2


def test_a_pandas_export_without_missing_cells_needs_only_the_target(mlp_cli, tmp_path):
    text = PANDAS_EXPORT.replace("1,4.9,,", "1,4.9,red,").replace("7,5.5,,", "7,5.5,blue,")
    write(tmp_path / "p.csv", text)
    ok(mlp_cli("train", "--config", config(tmp_path, "p.csv"), "--out", tmp_path / "run"))


def test_row_names_that_repeat_are_left_out_with_a_note(mlp_cli, tmp_path):
    write(tmp_path / "r.csv", R_EXPORT.replace('"2",', '"1",'))
    run = tmp_path / "run"
    result = ok(mlp_cli("train", "--config", config(tmp_path, "r.csv"), "--out", run))
    assert "row names) is left out: its values are not unique" in result.stderr
    data = json.loads((run / "data.json").read_text())
    assert data["id"] is None and "rownames" not in data["feature_names"]


def test_a_column_already_called_rownames_keeps_its_name(tmp_path):
    path = write(tmp_path / "r.csv", ",rownames,y\na,1,x\nb,2,y\n")
    table = read_table(path)
    assert table.names == ("rownames_", "rownames", "y") and table.rownames == "rownames_"


# -- ids are text ------------------------------------------------------------------------------


def test_zero_padded_ids_are_copied_verbatim_into_predictions(mlp_cli, tmp_path):
    rows = ["account,x,y"] + [f"{1000025 + i:09d},{i % 5}.5,{'ab'[i % 2]}" for i in range(12)]
    write(tmp_path / "ids.csv", "\n".join(rows) + "\n")
    run = tmp_path / "run"
    ok(mlp_cli("train", "--config", config(tmp_path, "ids.csv", ", id: account"), "--out", run))
    predicted = ok(mlp_cli("predict", run, tmp_path / "ids.csv")).stdout.splitlines()
    assert [line.split(",")[0] for line in predicted[1:3]] == ["001000025", "001000026"]


# -- id-like columns ---------------------------------------------------------------------------


def test_an_id_like_numeric_column_is_named_and_still_trains(mlp_cli, tmp_path):
    rows = ["case,x,y"] + [f"{7 * i + 3},{i % 4}.25,{'ab'[i % 2]}" for i in range(12)]
    write(tmp_path / "c.csv", "\n".join(rows) + "\n")
    run = tmp_path / "run"
    result = ok(mlp_cli("train", "--config", config(tmp_path, "c.csv"), "--out", run))
    [line] = [line for line in result.stderr.splitlines() if "'case'" in line]
    assert "12 distinct integers, like an id" in line and "data.id: case" in line
    assert json.loads((run / "data.json").read_text())["feature_names"] == ["case", "x"]


def test_a_high_cardinality_text_column_is_refused_with_the_hint(mlp_cli, tmp_path):
    rows = ["code,x,y"] + [f"s{i},{i % 3},{'ab'[i % 2]}" for i in range(30)]
    write(tmp_path / "h.csv", "\n".join(rows) + "\n")
    result = mlp_cli("train", "--config", config(tmp_path, "h.csv"), "--out", tmp_path / "r")
    assert result.exit_code == 2
    assert "column 'code' has 30 different values" in result.stderr
    assert "data.drop: [code]" in result.stderr and "data.id: code" in result.stderr


def test_max_categories_caps_one_hot_columns_as_onehotencoder_does(tmp_path):
    from sklearn.preprocessing import OneHotEncoder

    # counts: a 5, b 4, c 4, d 2, e 1, f 1; a tie between b and c at the cut
    cells = list("aaaaabbbbccccddef")
    text = "c,y\n" + "".join(f"{c},{i % 2}\n" for i, c in enumerate(cells))
    table = read_table(write(tmp_path / "m.csv", text))
    for m in (2, 3, 4, 6, 7):
        prep = Preprocessor.fit(table, ["c"], max_categories=m, standardize=False)
        encoder = OneHotEncoder(max_categories=m, handle_unknown="ignore", sparse_output=False)
        expected = encoder.fit_transform(np.array(cells)[:, None])
        assert np.array_equal(prep.transform(table), expected), m
        new = read_table(write(tmp_path / "n.csv", "c,z\nf,1\nzz,1\nb,1\n"))
        assert np.array_equal(
            prep.transform(new), encoder.transform(np.array(["f", "zz", "b"])[:, None])
        )
        assert prep.n_features == expected.shape[1]


def test_max_categories_says_so_on_stderr_and_stores_the_other_column(mlp_cli, tmp_path):
    rows = ["colour,x,y"] + [f"c{i % 12},{i % 3},{'ab'[i % 2]}" for i in range(48)]
    write(tmp_path / "m.csv", "\n".join(rows) + "\n")
    run = tmp_path / "run"
    cfg = config(tmp_path, "m.csv", ", max_categories: 5")
    result = ok(mlp_cli("train", "--config", cfg, "--out", run))
    assert "column 'colour' has 12 categories: the 4 most frequent" in result.stderr
    assert "colour -> 5 one-hot columns" in result.stdout
    with np.load(run / "model.npz") as npz:
        assert npz["feature_names"].tolist()[4] == "colour=(other)"
        assert len(npz["prep.other"]) == 8
    ok(mlp_cli("predict", run, tmp_path / "m.csv"))


# -- decimal commas ----------------------------------------------------------------------------


def semicolon_rows(n=12):
    lines = ["length;width;kind"]
    for i in range(n):
        lines.append(f"{4 + i % 3},{318 + i};{i % 4},5;{'ab'[i % 2]}")
    return "\n".join(lines) + "\n"


def test_a_semicolon_file_with_decimal_commas_reads_numbers(mlp_cli, tmp_path):
    write(tmp_path / "eu.csv", semicolon_rows())
    run = tmp_path / "run"
    result = ok(mlp_cli("train", "--config", config(tmp_path, "eu.csv"), "--out", run))
    assert "decimal commas" in result.stdout and "2 numeric" in result.stdout
    with np.load(run / "model.npz") as npz:
        lengths = [4 + i % 3 + (318 + i) / 1000 for i in range(12)]  # 4,318 is 4.318
        assert npz["prep.mean"][0] == pytest.approx(np.mean(lengths))


def test_decimal_point_reports_comma_numbers_left_as_text(mlp_cli, tmp_path):
    write(tmp_path / "eu.csv", semicolon_rows(40))
    cfg = config(tmp_path, "eu.csv", ', decimal: "."')
    result = mlp_cli("train", "--config", cfg, "--out", tmp_path / "run")
    assert result.exit_code == 2  # `length` has 40 distinct values: too many to be categories
    assert "column 'length' was read as text because its numbers have decimal commas" in (
        result.stderr
    )
    assert "data.decimal: ','" in result.stderr


# -- imbalance -----------------------------------------------------------------------------------


def imbalanced(folder):
    rng = np.random.default_rng(1)
    n = 300
    kind = np.where(np.arange(n) % 20 == 0, "rare", "common")
    X = rng.normal(size=(n, 2))
    X[kind == "rare"] += 2.0
    lines = ["a,b,kind"] + [f"{x[0]:.4f},{x[1]:.4f},{k}" for x, k in zip(X, kind)]
    return write(folder / "imb.csv", "\n".join(lines) + "\n")


def imbalanced_config(folder, weight):
    path = folder / f"{weight}.yaml"
    path.write_text(
        "seed: 0\ndata: {dataset: imb.csv, test_size: 0.3, val_size: 0}\nmodel: {hidden: [8]}\n"
        f"train: {{epochs: 3, batch_size: 16, class_weight: {weight}, "
        "optimizer: {name: adam, lr: 0.05}}\n"
    )
    return path


def test_balanced_class_weights_raise_balanced_accuracy(mlp_cli, tmp_path):
    from sklearn.metrics import balanced_accuracy_score, f1_score

    imbalanced(tmp_path)
    scores = {}
    for weight in ("none", "balanced"):
        run = tmp_path / weight
        ok(mlp_cli("train", "--config", imbalanced_config(tmp_path, weight), "--out", run))
        report = json.loads(ok(mlp_cli("eval", run, "--json")).stdout)
        scores[weight] = report["balanced_accuracy"]
        # against scikit-learn, from the confusion matrix's own predictions
        matrix = np.array(report["confusion_matrix"])
        y_true = np.repeat([0, 0, 1, 1], matrix.ravel())
        y_pred = np.repeat([0, 1, 0, 1], matrix.ravel())
        assert report["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y_true, y_pred))
        assert report["macro_f1"] == pytest.approx(f1_score(y_true, y_pred, average="macro"))
        assert report["baseline_accuracy"] == pytest.approx(np.mean(y_true == 0))  # "common"
    assert scores["balanced"] > scores["none"]
    text = ok(mlp_cli("eval", tmp_path / "balanced")).stdout
    assert "balanced accuracy" in text and "macro F1" in text and "baseline" in text


def test_class_weights_name_an_unknown_class_in_one_line(mlp_cli, tmp_path):
    imbalanced(tmp_path)
    cfg = imbalanced_config(tmp_path, "{rare: 5, unusual: 2}")
    result = mlp_cli("train", "--config", cfg, "--out", tmp_path / "run")
    assert result.exit_code == 2
    assert "train.class_weight: no class is labelled 'unusual'" in result.stderr


def test_gradcheck_passes_on_the_weighted_objective(mlp_cli, tmp_path):
    imbalanced(tmp_path)
    result = mlp_cli("gradcheck", "--config", imbalanced_config(tmp_path, "balanced"), "-q")
    assert result.exit_code == 0 and result.stdout.startswith("PASS")


def test_early_stopping_may_monitor_val_balanced_accuracy(mlp_cli, tmp_path):
    imbalanced(tmp_path)
    cfg = tmp_path / "es.yaml"
    cfg.write_text(
        "seed: 0\ndata: {dataset: imb.csv, test_size: 0.2, val_size: 0.2}\nmodel: {hidden: [4]}\n"
        "train: {epochs: 4, class_weight: balanced, early_stopping: "
        "{monitor: val_balanced_accuracy, patience: 2}}\n"
    )
    run = tmp_path / "run"
    ok(mlp_cli("train", "--config", cfg, "--out", run))
    summary = json.loads((run / "summary.json").read_text())
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    best = max(records, key=lambda r: r["val_balanced_accuracy"])  # the first of the best
    assert summary["best"]["val_balanced_accuracy"] == best["val_balanced_accuracy"]


# -- big confusion matrices ------------------------------------------------------------------------


def test_a_matrix_too_wide_shows_its_largest_confusions():
    from rich.console import Console

    from cli.render import confusion_table

    labels = [f"species_{k:02d}" for k in range(32)]
    matrix = np.eye(32, dtype=int) * 10
    matrix[3, 7], matrix[5, 1], matrix[9, 9] = 4, 6, 20
    console = Console(width=100, record=True)
    console.print(confusion_table(matrix, labels))
    text = console.export_text()
    assert len(text.splitlines()) < 20 and "Largest confusions (2 of 2 kinds, 10 errors" in text
    lines = [line for line in text.splitlines() if "species_" in line]
    assert "species_05" in lines[0] and "species_01" in lines[0] and "37.5%" in lines[0]
    assert "species_03" in lines[1] and "28.6%" in lines[1]  # 4 of 14


# -- moved data --------------------------------------------------------------------------------


def test_resume_accepts_the_same_bytes_moved_elsewhere(mlp_cli, tmp_path):
    write(tmp_path / "iris.csv", R_EXPORT)
    run = tmp_path / "run"
    ok(mlp_cli("train", "--config", config(tmp_path, "iris.csv"), "--out", run))
    moved = tmp_path / "elsewhere" / "copy.csv"
    moved.parent.mkdir()
    moved.write_bytes((tmp_path / "iris.csv").read_bytes())
    (tmp_path / "iris.csv").unlink()
    started = json.loads((run / "data.json").read_text())["started"]
    extend = ("--set", f"data.dataset={moved}", "--set", "train.epochs=3")
    ok(mlp_cli("train", "--resume", run, *extend))
    assert yaml.safe_load((run / "config.yaml").read_text())["data"]["dataset"] == str(moved)
    record = json.loads((run / "data.json").read_text())
    assert record["source"]["path"] == str(moved)
    assert record["started"] == started  # the same run, moved: it started when it started
    moved.write_bytes(moved.read_bytes() + b'"105",6.5,3,"virginica"\n')
    result = mlp_cli("train", "--resume", run, "--set", f"data.dataset={tmp_path / 'x.csv'}")
    assert result.exit_code == 2 and "data.dataset" in result.stderr


def test_an_encoding_too_big_for_memory_is_refused_before_it_is_built(
    mlp_cli, tmp_path, monkeypatch
):
    import cli.experiment

    rows = ["colour,x,y"] + [f"c{i % 12},{i % 3},{'ab'[i % 2]}" for i in range(48)]
    write(tmp_path / "m.csv", "\n".join(rows) + "\n")
    monkeypatch.setattr(cli.experiment, "available_memory", lambda: 1000)  # bytes
    built = []
    monkeypatch.setattr(Preprocessor, "encode", lambda *args: built.append(args))
    result = mlp_cli("train", "--config", config(tmp_path, "m.csv"), "--out", tmp_path / "r")
    assert result.exit_code == 2 and built == []
    [line] = result.stderr.strip().splitlines()
    assert "data.max_categories: 48 rows x 13 encoded columns need about" in line
    assert "column 'colour' has the most" in line


def test_missing_cells_at_predict_time_are_counted_in_one_line(mlp_cli, tmp_path):
    write(tmp_path / "iris.csv", R_EXPORT)
    run = tmp_path / "run"
    ok(mlp_cli("train", "--config", config(tmp_path, "iris.csv"), "--out", run))
    new = '"","Sepal.Length","Sepal.Width"\n"a",5,3\n"b",NA,3\n"c",6,\n"d",NA,NA\n'
    result = mlp_cli("predict", run, write(tmp_path / "new.csv", new))
    assert result.exit_code == 2
    [line] = result.stderr.strip().splitlines()
    assert "3 row(s) have missing cells, the first on line 3 (column 'Sepal.Length')" in line
    assert "trained with data.missing: error and cannot score them" in line
    assert "a run trained with data.missing: impute can" in line
