"""Runs you can trust later: a run knows its data and its split, its paths travel, sweeps
notice edits, divergence without overflow is caught, a closed output never loses a run, and
resuming keeps its word."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import yaml

from cli.rundir import inspect_run

MLP = [sys.executable, "-m", "cli"]


def blobs_csv(path, rows=90, seed=0):
    """Three well-separated classes in two features: a file any working model scores well on."""
    rng = np.random.default_rng(seed)
    labels = np.array(["ant", "bee", "cat"])[np.arange(rows) % 3]
    centres = {"ant": (0.0, 0.0), "bee": (3.0, 0.0), "cat": (0.0, 3.0)}
    points = np.array([centres[label] for label in labels]) + rng.normal(0, 0.9, (rows, 2))
    lines = ["x,y,animal", *(f"{x:.6f},{y:.6f},{a}" for (x, y), a in zip(points, labels))]
    path.write_text("\n".join(lines) + "\n")
    return path


def config_for(csv, folder, extra=""):
    path = folder / "blobs.yaml"
    path.write_text(
        f"seed: 2\ndata: {{dataset: {csv}}}\nmodel: {{hidden: [6]}}\n"
        f"train: {{epochs: 6, batch_size: 16, optimizer: {{name: adam, lr: 0.05}}}}\n{extra}"
    )
    return path


def predictions_by_hand(model_npz, X):
    """The model's predicted class indices, from its arrays with a forward pass written here
    (numeric columns scaled by the stored prep.mean and prep.scale, sigmoid hidden layers,
    softmax output: argmax of the logits)."""
    with np.load(model_npz) as npz:
        layers = len(npz["layer_sizes"]) - 1
        a = (X - npz["prep.mean"]) / npz["prep.scale"]
        for layer in range(1, layers):
            a = 1 / (1 + np.exp(-(a @ npz[f"W{layer}"] + npz[f"b{layer}"])))
        return (a @ npz[f"W{layers}"] + npz[f"b{layers}"]).argmax(axis=1)


def read_csv(path):
    text = np.loadtxt(path, delimiter=",", skiprows=1, dtype=str)
    classes = sorted(set(text[:, 2]))
    return text[:, :2].astype(float), np.array([classes.index(label) for label in text[:, 2]])


def test_eval_scores_exactly_the_recorded_rows_and_refuses_changed_data(mlp_cli, tmp_path):
    csv = blobs_csv(tmp_path / "blobs.csv")
    run = tmp_path / "run"
    assert (
        mlp_cli("train", "--config", config_for(csv, tmp_path), "--out", run, "-q").exit_code == 0
    )
    with np.load(run / "split.npz") as npz:
        split = {name: npz[name] for name in npz.files}
    everything = np.concatenate(list(split.values()))
    assert sorted(everything.tolist()) == list(range(90))  # every row in exactly one part
    assert len(split["test"]) == 18  # 20% of 90

    X, y = read_csv(csv)
    report = json.loads(mlp_cli("eval", run, "--json").stdout)
    test = split["test"]
    assert report["n"] == len(test)
    expected = (predictions_by_hand(run / "model.npz", X[test]) == y[test]).mean()
    assert report["accuracy"] == pytest.approx(expected, abs=1e-12)

    # the same bytes in another place are the same data: its recorded split still applies
    moved = tmp_path / "elsewhere.csv"
    shutil.copy(csv, moved)
    same = json.loads(mlp_cli("eval", run, "--data", moved, "--split", "test", "--json").stdout)
    assert {k: v for k, v in same.items() if k != "data"} == {
        k: v for k, v in report.items() if k != "data"
    }

    # reordered rows: refused, naming the file and --data; --data scores every row of it
    lines = csv.read_text().splitlines()
    csv.write_text("\n".join([lines[0], *reversed(lines[1:])]) + "\n")
    refused = mlp_cli("eval", run)
    assert refused.exit_code == 2 and str(csv) in refused.stderr and "--data" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    scored = json.loads(mlp_cli("eval", run, "--data", csv, "--json").stdout)
    X, y = read_csv(csv)
    assert scored["n"] == 90 and scored["split"] == "all rows"
    expected = (predictions_by_hand(run / "model.npz", X) == y).mean()
    assert scored["accuracy"] == pytest.approx(expected, abs=1e-12)
    assert sum(map(sum, scored["confusion_matrix"])) == 90
    mixed = mlp_cli("eval", run, "--data", csv, "--split", "test")
    assert mixed.exit_code == 2 and "leave out --split" in mixed.stderr


def test_a_run_that_recorded_no_data_is_refused_naming_its_format(mlp_cli, iris_config, tmp_path):
    run = tmp_path / "old"
    assert mlp_cli("train", "--config", iris_config, "--out", run, "-q").exit_code == 0
    (run / "data.json").unlink()  # as runs saved before runs recorded their data
    summary = json.loads((run / "summary.json").read_text())
    for key in ("format", "model_sha256", "files", "checksum"):  # none of them in format 1
        del summary[key]
    (run / "summary.json").write_text(json.dumps(summary))
    result = mlp_cli("eval", run)
    assert result.exit_code == 2 and "format version 1" in result.stderr
    listed = json.loads(mlp_cli("runs", tmp_path, "--json").stdout)["runs"]
    assert [r["status"] for r in listed] == ["completed"]  # listed as it was, not as damaged


def test_paths_are_relative_to_the_config_and_stored_absolute(mlp_cli, tmp_path, monkeypatch):
    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    (project / "configs").mkdir()
    csv = blobs_csv(project / "data" / "blobs.csv")
    config = config_for("../data/blobs.csv", project / "configs")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    run = tmp_path / "run"
    assert mlp_cli("train", "--config", config, "--out", run, "-q").exit_code == 0
    stored = yaml.safe_load((run / "config.yaml").read_text())
    assert stored["data"]["dataset"] == str(csv)

    monkeypatch.chdir(tmp_path)  # every command works from another working directory
    assert mlp_cli("eval", run).exit_code == 0
    assert mlp_cli("curves", run).exit_code == 0
    assert mlp_cli("predict", run, csv).exit_code == 0
    assert mlp_cli("train", "--resume", run, "--set", "train.epochs=8", "-q").exit_code == 0

    monkeypatch.chdir(project / "data")  # a path given with --set is the working directory's
    other = tmp_path / "other"
    result = mlp_cli(
        "train", "--config", config, "--out", other, "--set", "data.dataset=blobs.csv", "-q"
    )
    assert result.exit_code == 0, result.stderr
    assert yaml.safe_load((other / "config.yaml").read_text())["data"]["dataset"] == str(csv)


def test_a_sweep_retrains_the_points_whose_base_config_changed(mlp_cli, tmp_path):
    (tmp_path / "data").mkdir()
    blobs_csv(tmp_path / "data" / "blobs.csv")
    base = config_for("data/blobs.csv", tmp_path)
    grids = tmp_path / "grids"
    grids.mkdir()
    grid = grids / "lr.yaml"  # its dataset path is relative to the grid's own folder
    grid.write_text("train.optimizer.lr: [0.01, 0.05]\ndata.dataset: [../data/blobs.csv]\n")
    out = tmp_path / "sweep"

    def sweep():
        result = mlp_cli("sweep", "--config", base, "--grid", grid, "--out", out, "--json")
        assert result.exit_code == 0, result.stderr
        return json.loads(result.stdout)

    first = sweep()
    assert not any(p["skipped"] for p in first["points"])
    base.write_text(base.read_text().replace("hidden: [6]", "hidden: [3]"))
    second = sweep()
    assert not any(p["skipped"] for p in second["points"])  # trained afresh...
    first_ids = {p["id"] for p in first["points"]}
    second_ids = {p["id"] for p in second["points"]}
    assert not first_ids & second_ids  # ...in new directories
    listed = [json.loads(line)["id"] for line in (out / "results.jsonl").read_text().splitlines()]
    assert set(listed) == second_ids  # only the points of the current grid
    best_run = out / second["best"]["id"]
    assert (out / "best.yaml").read_text() == (best_run / "config.yaml").read_text()
    assert yaml.safe_load((out / "best.yaml").read_text())["model"]["hidden"] == [3]
    assert all(p["skipped"] for p in sweep()["points"])  # unchanged points are skipped


def test_a_loss_far_above_chance_is_divergence(mlp_cli, iris_config, tmp_path):
    run = tmp_path / "run"
    result = mlp_cli(
        "train", "--config", iris_config, "--out", run, "--set", "train.optimizer.lr=1e6"
    )
    assert result.exit_code == 1
    assert "diverged" in result.stderr and "log(3)" in result.stderr
    assert inspect_run(run).status == "failed"
    again = mlp_cli("train", "--resume", run)
    assert again.exit_code == 2 and "diverged" in again.stderr


def _train_command(config, run, *extra):
    return [*MLP, "train", "--config", str(config), "--out", str(run), *extra]


@pytest.mark.slow
def test_a_closed_pipe_or_a_failing_stdout_never_loses_the_run(iris_config, tmp_path):
    run = tmp_path / "piped"
    command = " ".join(_train_command(iris_config, run))
    piped = subprocess.run(
        ["bash", "-c", f"{command} | head -1; echo ${{PIPESTATUS[0]}}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert piped.stdout.strip().splitlines()[-1] == "0", piped.stderr
    assert "Traceback" not in piped.stderr and "Exception" not in piped.stderr
    assert inspect_run(run).status == "completed"
    full = tmp_path / "full"
    with open("/dev/full", "w") as stdout:
        code = subprocess.run(_train_command(iris_config, full), stdout=stdout, timeout=120)
    assert code.returncode == 0
    evaluated = subprocess.run([*MLP, "eval", str(full), "--json"], capture_output=True)
    assert evaluated.returncode == 0 and json.loads(evaluated.stdout)["n"] == 30


@pytest.mark.slow
def test_a_closed_terminal_saves_the_state_and_exits_129(iris_config, tmp_path):
    long = iris_config.read_text().replace("epochs: 8", "epochs: 100000")
    iris_config.write_text(long)
    run = tmp_path / "run"
    process = subprocess.Popen(_train_command(iris_config, run), stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (run / "metrics.jsonl").is_file():
        time.sleep(0.02)
    process.send_signal(signal.SIGHUP)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 129, stderr
    assert "SIGHUP" in stderr and "--resume" in stderr
    assert inspect_run(run).status == "interrupted"


def test_resume_refuses_no_more_epochs_than_are_done(mlp_cli, iris_config, tmp_path):
    run = tmp_path / "run"
    assert mlp_cli("train", "--config", iris_config, "--out", run, "-q").exit_code == 0
    for epochs in (8, 3):
        result = mlp_cli("train", "--resume", run, "--set", f"train.epochs={epochs}")
        assert result.exit_code == 2 and "8 epochs are already done" in result.stderr


def test_a_cosine_schedule_run_cannot_be_extended(mlp_cli, iris_config, tmp_path):
    run = tmp_path / "run"
    cosine = ["--set", "train.lr_schedule.name=cosine"]
    assert mlp_cli("train", "--config", iris_config, "--out", run, *cosine, "-q").exit_code == 0
    before = (run / "model.npz").read_bytes()
    result = mlp_cli("train", "--resume", run, "--set", "train.epochs=12")
    assert result.exit_code == 2 and "cosine" in result.stderr
    assert (run / "model.npz").read_bytes() == before


EARLY = (
    "seed: 1\n"
    "data: {dataset: wine, test_size: 0.2, val_size: 0.2}\n"
    "model: {hidden: [8]}\n"
    "train:\n"
    "  epochs: 40\n"
    "  batch_size: 16\n"
    "  optimizer: {name: adam, lr: 0.05}\n"
    "  early_stopping: {monitor: val_loss, patience: 3}\n"
)


def _weights(run):
    with np.load(run / "model.npz") as npz:
        return {name: npz[name].tobytes() for name in npz.files if name[0] in "Wb"}


def test_early_stopping_carries_over_an_interruption_and_an_extension(
    mlp_cli, tmp_path, monkeypatch
):
    config = tmp_path / "early.yaml"
    config.write_text(EARLY)
    straight = tmp_path / "straight"
    assert mlp_cli("train", "--config", config, "--out", straight, "-q").exit_code == 0
    best = json.loads((straight / "summary.json").read_text())["best"]
    assert best["stopped_early"] and best["epoch"] > 3  # the test needs a run that stops early

    from mlp import Trainer

    real = Trainer.run

    def interrupt_after(epoch):
        def run(self, epochs):
            for report in real(self, epochs):
                yield report
                if report.epoch == epoch:
                    os.kill(os.getpid(), signal.SIGINT)

        return run

    interrupted = tmp_path / "interrupted"
    with monkeypatch.context() as patch:
        patch.setattr(Trainer, "run", interrupt_after(best["epoch"] + 1))
        result = mlp_cli("train", "--config", config, "--out", interrupted, "-q")
    assert result.exit_code == 130
    assert mlp_cli("train", "--resume", interrupted, "-q").exit_code == 0
    assert json.loads((interrupted / "summary.json").read_text())["best"] == best
    assert _weights(interrupted) == _weights(straight)

    extended = tmp_path / "extended"
    short = ["--set", f"train.epochs={best['epoch'] + 1}"]
    assert mlp_cli("train", "--config", config, "--out", extended, *short, "-q").exit_code == 0
    assert mlp_cli("train", "--resume", extended, "--set", "train.epochs=40", "-q").exit_code == 0
    assert json.loads((extended / "summary.json").read_text())["best"] == best
    assert _weights(extended) == _weights(straight)


def test_extending_a_run_early_stopping_ended_is_refused_in_one_line(mlp_cli, tmp_path):
    config = tmp_path / "es.yaml"
    config.write_text(
        "data: {dataset: iris, val_size: 0.2}\nmodel: {hidden: [3]}\n"
        "train: {epochs: 200, batch_size: 16, optimizer: {name: adam, lr: 0.5},\n"
        "        early_stopping: {patience: 2}}\n"
    )
    run = tmp_path / "run"
    assert mlp_cli("train", "--config", config, "--out", run, "-q").exit_code == 0
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    epochs = json.loads((run / "summary.json").read_text())["epochs"]
    assert epochs < 200  # early stopping ended it
    result = mlp_cli("train", "--resume", run, "--set", "train.epochs=400")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"error: --resume {run}: early stopping ended this run at epoch {epochs}, so more "
        "epochs would train none; start a new run (with more train.early_stopping.patience)"
    )
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before  # nothing staged


def test_a_resume_whose_data_file_is_gone_says_how_to_point_at_it(mlp_cli, tmp_path):
    data = tmp_path / "iris.csv"
    data.write_text("a,b,label\n" + "".join(f"{i % 7},{i % 5},{'xy'[i % 2]}\n" for i in range(40)))
    config = tmp_path / "c.yaml"
    config.write_text("data: {dataset: iris.csv}\nmodel: {hidden: [2]}\ntrain: {epochs: 2}\n")
    run = tmp_path / "run"
    assert mlp_cli("train", "--config", config, "--out", run, "-q").exit_code == 0
    data.rename(tmp_path / "moved.csv")
    result = mlp_cli("train", "--resume", run, "--set", "train.epochs=3")
    assert result.exit_code == 2
    [line] = result.stderr.strip().splitlines()
    assert str(data) in line and "resume with --set data.dataset=NEW_PATH" in line
