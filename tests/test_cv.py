"""`mlp cv` and `mlp sweep --cv`: stratified folds as ordinary runs, through the command line."""

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

# test_size is set to show that it does not apply: each fold's test part is the fold
CONFIG = (
    "seed: 7\n"
    "data: {dataset: iris, test_size: 0.2, val_size: 0.1}\n"
    "model: {hidden: [6]}\n"
    "train: {epochs: 5, batch_size: 16, optimizer: {name: adam, lr: 0.05}}\n"
)


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "iris.yaml"
    path.write_text(CONFIG)
    return path


def split_of(run):
    with np.load(Path(run) / "split.npz") as npz:
        return {name: npz[name] for name in npz.files}


def summary_of(run):
    return json.loads((Path(run) / "summary.json").read_text())


def check_folds_cover_every_row_once(fold_runs, n_rows, val_rows):
    held = []
    for run in fold_runs:
        split = split_of(run)
        parts = np.concatenate([split["train"], split["val"], split["test"]])
        assert np.array_equal(np.sort(parts), np.arange(n_rows))  # disjoint, all rows
        assert len(split["val"]) == val_rows
        held.append(split["test"])
    assert np.array_equal(np.sort(np.concatenate(held)), np.arange(n_rows))
    return held


def test_cv_holds_every_row_out_once_and_each_fold_is_an_ordinary_run(
    mlp_cli, config, tmp_path, monkeypatch
):
    out = tmp_path / "cv"
    result = mlp_cli(
        "cv", "--config", config, "--folds", "3", "--out", out, "--jobs", "2", "--json"
    )
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    folds = report["folds"]
    assert [f["fold"] for f in folds] == [1, 2, 3]
    assert [f["n"] for f in folds] == [50, 50, 50]  # 150 rows in 3 folds
    runs = [out / f"fold-{k}" for k in (1, 2, 3)]
    # val_size 0.1 of the 100 training rows of a fold: 10
    held = check_folds_cover_every_row_once(runs, 150, val_rows=10)
    species = np.repeat([0, 1, 2], 50)  # iris's rows are in class order
    for rows in held:  # 50 of a class in 3 folds: 16 or 17 each
        assert all(count in (16, 17) for count in np.bincount(species[rows]))
    accuracy = np.array([f["accuracy"] for f in folds])
    assert report["mean"] == pytest.approx(accuracy.mean())
    assert report["std"] == pytest.approx(np.sqrt(np.mean((accuracy - accuracy.mean()) ** 2)))
    assert report["loss_mean"] == pytest.approx(np.mean([f["loss"] for f in folds]))
    # each fold is an ordinary run: eval scores exactly the rows it held out
    evaluated = json.loads(mlp_cli("eval", runs[1], "--json").stdout)
    assert evaluated["n"] == 50 and evaluated["accuracy"] == folds[1]["accuracy"]
    assert evaluated["loss"] == pytest.approx(folds[1]["loss"], rel=1e-12)

    # one fold at a time gives the same numbers; the table shows them; the default folder
    monkeypatch.chdir(tmp_path)
    table = mlp_cli("cv", "--config", config, "--folds", "3", "--jobs", "1")
    assert table.exit_code == 0, table.stderr
    assert f"{report['mean']:.4f} ± {report['std']:.4f}" in table.stdout
    (default,) = (tmp_path / "runs").iterdir()
    assert default.name == f"{config.stem}-cv"  # the same each time: a rerun continues it
    for k, fold in enumerate(folds, start=1):
        again = summary_of(default / f"fold-{k}")["final"]["test"]
        assert again["accuracy"] == fold["accuracy"] and again["loss"] == fold["loss"]


@pytest.mark.parametrize(
    ("extra", "culprit"),
    [
        (
            ["--folds", "60"],
            "folds=60: class 'setosa' (index 0) has only 50 samples, fewer than the folds",
        ),
        (["--folds", "3", "--backend", "dask"], "--backend dask and --scheduler"),
    ],
)
def test_folds_that_cannot_be_drawn_are_one_line_and_nothing_runs(
    mlp_cli, config, tmp_path, extra, culprit
):
    out = tmp_path / "cv"
    result = mlp_cli("cv", "--config", config, "--out", out, "--json", *extra)
    assert result.exit_code == 2
    assert culprit in json.loads(result.stdout)["error"]
    assert not out.exists()


def test_a_folder_that_is_not_empty_is_refused(mlp_cli, config, tmp_path):
    (tmp_path / "cv").mkdir()
    (tmp_path / "cv" / "notes.txt").write_text("mine")
    result = mlp_cli("cv", "--config", config, "--out", tmp_path / "cv")
    assert result.exit_code == 2 and "not an empty folder" in result.stderr


def test_a_cv_folder_refuses_another_config_or_fold_count_naming_the_difference(
    mlp_cli, config, tmp_path
):
    out = tmp_path / "cv"
    first = mlp_cli("cv", "--config", config, "--folds", "3", "--jobs", "1", "--out", out, "-q")
    assert first.exit_code == 0, first.stderr
    models = {p: p.read_bytes() for p in sorted(out.glob("fold-*/model.npz"))}
    other_folds = mlp_cli("cv", "--config", config, "--folds", "4", "--out", out)
    assert other_folds.exit_code == 2
    assert (
        "--folds (3 there, 4 now)" in other_folds.stderr and "another --out" in other_folds.stderr
    )
    epochs = mlp_cli(
        "cv", "--config", config, "--folds", "3", "--out", out, "--set", "train.epochs=7"
    )
    assert epochs.exit_code == 2 and "train.epochs (" in epochs.stderr
    assert len(epochs.stderr.strip().splitlines()) == 1
    # nothing was touched, and the same command again keeps every finished fold
    again = mlp_cli("cv", "--config", config, "--folds", "3", "--out", out, "--json")
    assert again.exit_code == 0, again.stderr
    assert {p: p.read_bytes() for p in sorted(out.glob("fold-*/model.npz"))} == models
    assert "mean accuracy" in first.stdout and len(first.stdout.strip().splitlines()) == 1


def test_sweep_cv_ranks_points_by_mean_cross_validated_accuracy(mlp_cli, config, tmp_path):
    grid = tmp_path / "grid.yaml"
    grid.write_text("train.optimizer.lr: [0.001, 0.05]\n")
    out = tmp_path / "sweep"
    result = mlp_cli(
        "sweep",
        "--config",
        config,
        "--grid",
        grid,
        "--out",
        out,
        "--cv",
        "3",
        "--jobs",
        "1",
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    points = json.loads(result.stdout)["points"]
    assert [p["status"] for p in points] == ["completed", "completed"]
    means = [p["cv_mean"] for p in points]
    assert means == sorted(means, reverse=True)
    for point in points:
        runs = [Path(point["run"]) / f"fold-{k}" for k in (1, 2, 3)]
        check_folds_cover_every_row_once(runs, 150, val_rows=10)
        accuracy = np.array([summary_of(run)["final"]["test"]["accuracy"] for run in runs])
        assert point["cv_mean"] == pytest.approx(accuracy.mean())
        assert point["cv_std"] == pytest.approx(accuracy.std())
    saved = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [(p["cv_mean"], p["cv_std"]) for p in saved] == [
        (p["cv_mean"], p["cv_std"]) for p in points
    ]
    best = yaml.safe_load((out / "best.yaml").read_text())
    assert best["train"]["optimizer"]["lr"] == points[0]["overrides"]["train.optimizer.lr"]


def test_a_rerun_redoes_a_damaged_fold_and_keeps_the_others(mlp_cli, config, tmp_path):
    out = tmp_path / "cv"
    args = ("cv", "--config", config, "--folds", "3", "--jobs", "1", "--out", out, "--json")
    first = json.loads(mlp_cli(*args).stdout)
    models = {k: (out / f"fold-{k}" / "model.npz").read_bytes() for k in (1, 2, 3)}
    (out / "fold-2" / "model.npz").write_bytes(b"not a model")  # damaged after the fact
    kept = (out / "fold-1" / "model.npz").stat().st_mtime_ns
    again = mlp_cli(*args)
    assert again.exit_code == 0, again.stderr
    assert json.loads(again.stdout)["folds"] == first["folds"]
    assert {k: (out / f"fold-{k}" / "model.npz").read_bytes() for k in (1, 2, 3)} == models
    assert (out / "fold-1" / "model.npz").stat().st_mtime_ns == kept  # not retrained


def test_sweep_quiet_prints_the_winner_in_one_line(mlp_cli, config, tmp_path):
    grid = tmp_path / "grid.yaml"
    grid.write_text("train.optimizer.lr: [0.001, 0.05]\n")
    args = ("--config", config, "--grid", grid, "--jobs", "1", "--out", tmp_path / "s")
    result = mlp_cli("sweep", *args, "--quiet")
    assert result.exit_code == 0, result.stderr
    (line,) = result.stdout.splitlines()
    assert line.startswith("best of 2 points: ") and "best.yaml" in line
