"""Tabular CSV files through the command: text categories, missing cells, ids, dropped columns,
delimiters, headerless files; what the run learned is stored in model.npz and reapplied."""

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def write_rows(path, rows, delimiter=","):
    with open(path, "w", newline="") as file:
        csv.writer(file, delimiter=delimiter, lineterminator="\n").writerows(rows)
    return path


def mixed_rows(n=60, seed=0):
    """colour (text) and size (number) decide the label; zone is a numeric code; uid an id."""
    rng = np.random.default_rng(seed)
    rows = [["uid", "colour", "size", "zone", "label"]]
    for i in range(n):
        colour = ["red", "green", "blue"][i % 3]
        size = float(rng.normal(5.0 if colour == "red" else 1.0, 0.5))
        label = "big" if colour == "red" or size > 3 else "small"
        rows.append([f"u{i:03d}", colour, f"{size:.4f}", str(1 + i % 4), label])
    return rows


def config(folder, csv_name, extra=""):
    path = folder / "t.yaml"
    path.write_text(
        f"seed: 3\ndata: {{dataset: {csv_name}{extra}}}\nmodel: {{hidden: [5]}}\n"
        "train: {epochs: 5, batch_size: 16, optimizer: {name: adam, lr: 0.05}}\n"
    )
    return path


def train(mlp_cli, cfg, run, *extra):
    result = mlp_cli("train", "--config", cfg, "--out", run, *extra)
    assert result.exit_code == 0, result.stderr
    return result


def arrays(run):
    with np.load(run / "model.npz") as npz:
        return {name: npz[name] for name in npz.files}


def test_text_columns_become_one_hot_and_the_encoding_is_stored(mlp_cli, tmp_path):
    write_rows(tmp_path / "m.csv", mixed_rows())
    run = tmp_path / "run"
    result = train(mlp_cli, config(tmp_path, "m.csv", ", id: uid"), run)
    assert "colour -> 3 one-hot columns" in result.stdout
    stored = arrays(run)
    assert stored["layer_sizes"][0] == 5  # size, zone and 3 colours; the id is no feature
    assert stored["prep.categories"].tolist() == ["blue", "green", "red"]
    assert stored["feature_names"].tolist() == [
        "colour=blue",
        "colour=green",
        "colour=red",
        "size",
        "zone",
    ]
    # the scaling is the training rows' own: mean and population std of those rows
    with np.load(run / "split.npz") as split:
        train_rows = split["train"]
    sizes = np.array([float(r[2]) for r in mixed_rows()[1:]])[train_rows]
    assert stored["prep.mean"][0] == pytest.approx(sizes.mean(), rel=1e-12)
    assert stored["prep.scale"][0] == pytest.approx(sizes.std(), rel=1e-12)


def test_predict_copies_the_id_and_says_how_many_cells_were_unseen(mlp_cli, tmp_path):
    write_rows(tmp_path / "m.csv", mixed_rows())
    run = tmp_path / "run"
    train(mlp_cli, config(tmp_path, "m.csv", ", id: uid"), run)
    new = [
        ["uid", "size", "colour", "zone"],
        ["a1", "5.0", "red", "1"],
        ["a2", "1.0", "mauve", "2"],
    ]
    result = mlp_cli("predict", run, write_rows(tmp_path / "new.csv", new), "--proba")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split(",")[:2] == ["uid", "prediction"]
    assert [line.split(",")[0] for line in lines[1:]] == ["a1", "a2"]
    assert "1 cell(s) of column 'colour' hold a category the training rows did not have" in (
        result.stderr
    )
    # an unseen category is all zeros, as scikit-learn's handle_unknown="ignore" encodes it
    from sklearn.preprocessing import OneHotEncoder

    encoder = OneHotEncoder(handle_unknown="ignore").fit([["blue"], ["green"], ["red"]])
    assert encoder.transform([["mauve"]]).toarray().tolist() == [[0.0, 0.0, 0.0]]
    # so two rows that differ only in which unseen category they hold predict alike
    two = [new[0], ["b1", "1.0", "mauve", "2"], ["b2", "1.0", "teal", "2"]]
    out = mlp_cli("predict", run, write_rows(tmp_path / "z.csv", two), "--proba").stdout
    first, second = (np.array(line.split(",")[2:], float) for line in out.splitlines()[1:])
    np.testing.assert_allclose(first, second, rtol=1e-12)


def test_imputed_cells_take_the_training_mean_at_train_and_predict_time(mlp_cli, tmp_path):
    rows = mixed_rows()
    rows[5][2] = ""  # a blank size
    rows[9][1] = "NA"  # a missing colour
    rows[12][4] = "?"  # a missing label: the row is left out
    write_rows(tmp_path / "m.csv", rows)
    run = tmp_path / "run"
    refused = mlp_cli("train", "--config", config(tmp_path, "m.csv"), "--out", run)
    assert refused.exit_code == 2 and "data.missing: impute" in refused.stderr
    result = train(mlp_cli, config(tmp_path, "m.csv", ", missing: impute, drop: [uid]"), run)
    assert "1 rows without a label left out" in result.stdout
    stored = arrays(run)
    kept = [r for r in rows[1:] if r[4] != "?"]
    with np.load(run / "split.npz") as split:
        train_rows = split["train"]
    sizes = np.array([float(r[2]) if r[2] else np.nan for r in kept])[train_rows]
    mean = np.nanmean(sizes)
    assert stored["prep.mean"][0] == pytest.approx(mean, rel=1e-12)
    # predict: a blank size gives exactly the prediction of that row with the mean written in
    header = ["colour", "size", "zone"]
    blank = write_rows(tmp_path / "b.csv", [header, ["red", "", "2"]])
    filled = write_rows(tmp_path / "f.csv", [header, ["red", repr(float(mean)), "2"]])
    one = mlp_cli("predict", run, blank, "--proba")
    two = mlp_cli("predict", run, filled, "--proba")
    assert one.exit_code == 0 and one.stdout == two.stdout


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_every_delimiter_trains_the_same_run_as_commas(mlp_cli, tmp_path, delimiter):
    write_rows(tmp_path / "c.csv", mixed_rows())
    write_rows(tmp_path / "d.tsv", mixed_rows(), delimiter=delimiter)
    extra = ", drop: [uid]"
    train(mlp_cli, config(tmp_path, "c.csv", extra), tmp_path / "comma")
    train(mlp_cli, config(tmp_path, "d.tsv", extra), tmp_path / "other")
    a, b = arrays(tmp_path / "comma"), arrays(tmp_path / "other")
    assert all(np.array_equal(a[k], b[k]) for k in a if k[0] in "Wb")
    data = json.loads((tmp_path / "other" / "data.json").read_text())
    assert data["delimiter"] == delimiter


def test_a_headerless_file_names_its_columns_and_predict_reads_headerless_input(mlp_cli, tmp_path):
    rows = [r[1:] for r in mixed_rows()[1:]]  # no header, no uid
    write_rows(tmp_path / "h.csv", rows)
    run = tmp_path / "run"
    result = train(mlp_cli, config(tmp_path, "h.csv", ", header: false"), run)
    assert "col1 -> 3 one-hot columns" in result.stdout
    new = write_rows(tmp_path / "new.csv", [["red", "5.0", "1"], ["blue", "0.9", "3"]])
    predicted = mlp_cli("predict", run, new)
    assert predicted.exit_code == 0, predicted.stderr
    assert len(predicted.stdout.splitlines()) == 3  # a header line, then both rows


def test_listed_columns_are_categories_even_when_they_are_numbers(mlp_cli, tmp_path):
    write_rows(tmp_path / "m.csv", mixed_rows())
    run = tmp_path / "run"
    train(mlp_cli, config(tmp_path, "m.csv", ", drop: [uid], categorical: [colour, zone]"), run)
    names = arrays(run)["feature_names"].tolist()
    assert [n for n in names if n.startswith("zone")] == ["zone=1", "zone=2", "zone=3", "zone=4"]


def test_a_column_of_mostly_unique_text_is_refused_with_a_hint(mlp_cli, tmp_path):
    write_rows(tmp_path / "m.csv", mixed_rows())
    result = mlp_cli("train", "--config", config(tmp_path, "m.csv"), "--out", tmp_path / "r")
    assert result.exit_code == 2
    assert "'uid'" in result.stderr and "data.drop" in result.stderr
    assert "data.id" in result.stderr


def test_the_shipped_mixed_config_trains_and_predicts(mlp_cli, tmp_path):
    for name in ("wine-mixed.yaml", "wine-mixed.csv"):
        shutil.copy(CONFIGS / name, tmp_path / name)
    run = tmp_path / "run"
    result = train(mlp_cli, tmp_path / "wine-mixed.yaml", run, "--json")
    assert json.loads(result.stdout)["final"]["test"]["accuracy"] >= 0.9
    predicted = mlp_cli("predict", run, tmp_path / "wine-mixed.csv")
    assert predicted.exit_code == 0
    assert predicted.stdout.splitlines()[1].startswith("W001,")


@pytest.mark.slow
def test_pandas_is_imported_only_when_a_file_is_read(tmp_path):
    import subprocess
    import sys

    script = (
        "import sys\nfrom typer.testing import CliRunner\nfrom cli.app import app\n"
        f"args = ['train', '--config', {str(CONFIGS / 'iris.yaml')!r}, '--out', "
        f"{str(tmp_path / 'run')!r}, '-q', '--overwrite', '--set', 'train.epochs=1']\n"
        "assert CliRunner().invoke(app, ['--help']).exit_code == 0\n"
        "assert CliRunner().invoke(app, args).exit_code == 0\n"
        "print('pandas' in sys.modules)\n"
    )
    # the first run may import scikit-learn (which imports pandas) to fill the dataset cache
    subprocess.run([sys.executable, "-c", script], capture_output=True, check=True)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
