"""A model file's stored preprocessing (`prep.*`) is checked when it is loaded: a damaged member
is one line naming the file and the member (exit 2), never a KeyError, an IndexError or
predictions made with the wrong columns."""

import numpy as np
import pytest


def tabular_csv(path, n=60):
    """colour (text) and size (number) decide the label; zone is a code; uid an id."""
    rng = np.random.default_rng(0)
    lines = ["uid,colour,size,zone,label"]
    for i in range(n):
        colour = ["red", "green", "blue"][i % 3]
        size = float(rng.normal(5.0 if colour == "red" else 1.0, 0.5))
        label = "big" if colour == "red" or size > 3 else "small"
        lines.append(f"u{i:03d},{colour},{size:.4f},{1 + i % 4},{label}")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def tabular_model(tmp_path_factory):
    """The arrays of a model trained on numbers and a text column, and the CSV it read."""
    from typer.testing import CliRunner

    from cli.app import app

    folder = tmp_path_factory.mktemp("prep")
    tabular_csv(folder / "m.csv")
    (folder / "t.yaml").write_text(
        "seed: 3\ndata: {dataset: m.csv, id: uid}\nmodel: {hidden: [5]}\n"
        "train: {epochs: 2, batch_size: 16}\n"
    )
    run = folder / "run"
    args = ["train", "-c", str(folder / "t.yaml"), "--out", str(run)]
    result = CliRunner().invoke(app, [*args, "-q", "--threads", "1"])
    assert result.exit_code == 0, result.output
    with np.load(run / "model.npz") as npz:
        arrays = {name: npz[name] for name in npz.files}
    # what the tests below take apart: size and zone are numbers, colour has 3 categories
    assert arrays["prep.columns"].tolist() == ["colour", "size", "zone"]
    assert arrays["prep.categories"].tolist() == ["blue", "green", "red"]
    return arrays, folder / "m.csv"


def without(key):
    return lambda a: a.pop(key)


def replaced(key, value):
    return lambda a: a.__setitem__(key, np.asarray(value))


def zone_dropped(a):
    """A consistent preprocessor for one column fewer than the network takes."""
    a["prep.columns"], a["prep.categorical"] = a["prep.columns"][:2], a["prep.categorical"][:2]
    a["prep.mean"], a["prep.scale"] = a["prep.mean"][:1], a["prep.scale"][:1]


DAMAGE = {
    "missing columns": (without("prep.columns"), "prep.columns is missing"),
    "missing counts": (without("prep.category_counts"), "prep.category_counts is missing"),
    "short column list": (
        replaced("prep.columns", ["colour", "size"]),
        "prep.categorical has 3 flags for 2 columns",
    ),
    "columns twice": (
        replaced("prep.columns", ["colour", "size", "size"]),
        "prep.columns names a column twice",
    ),
    "counts past the categories": (
        replaced("prep.category_counts", [4]),
        "prep.category_counts must be >= 1 and sum to the 3 categories",
    ),
    "counts for two columns": (
        replaced("prep.category_counts", [2, 1]),
        "prep.category_counts has 2 counts for 1 columns",
    ),
    "short mean": (replaced("prep.mean", [0.5]), "prep.mean has 1 entries for 2 numeric columns"),
    "zero scale": (
        replaced("prep.scale", [1.0, 0.0]),
        "prep.scale must be finite and positive",
    ),
    "unsorted categories": (
        replaced("prep.categories", ["red", "green", "blue"]),
        "prep.categories must list each column's categories sorted, once each",
    ),
    "unknown fill": (
        replaced("prep.fill", ["purple"]),
        "prep.fill names 'purple', which is not one of its categories",
    ),
    "unknown policy": (
        replaced("prep.missing", "sometimes"),
        "prep.missing must be 'error' or 'impute'",
    ),
    "flags as text": (
        replaced("prep.categorical", ["1", "0", "0"]),
        "prep.categorical has the wrong type (<U1)",
    ),
    "one column fewer than the network": (
        zone_dropped,
        "prep.* encodes 4 features; the network takes 5",
    ),
}


@pytest.mark.parametrize("case", DAMAGE, ids=list(DAMAGE))
def test_damaged_preprocessing_members_are_one_line_naming_file_and_member(
    mlp_cli, tabular_model, tmp_path, case
):
    arrays, csv = tabular_model
    damage, message = DAMAGE[case]
    damaged = dict(arrays)
    damage(damaged)
    model = tmp_path / "model.npz"
    np.savez(model, **damaged)
    result = mlp_cli("predict", model, csv)
    assert result.exit_code == 2
    assert result.stderr == f"error: {model}: {message}\n"
    assert result.stdout == ""


def test_the_undamaged_members_still_predict(mlp_cli, tabular_model, tmp_path):
    arrays, csv = tabular_model
    model = tmp_path / "model.npz"
    np.savez(model, **arrays)
    result = mlp_cli("predict", model, csv)
    assert result.exit_code == 0, result.stderr
    assert len(result.stdout.splitlines()) == 61
