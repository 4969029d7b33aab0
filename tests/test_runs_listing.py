"""`mlp runs` dates a run by the times it records, and names the network of every run alike."""

import json
import os
import shutil
import signal
from datetime import datetime

import mlp.optimizers

CONFIG = (
    "seed: 2\ndata: {dataset: iris, test_size: 0.2, val_size: 0.1}\nmodel: {hidden: [5]}\n"
    "train: {epochs: 4, batch_size: 16, optimizer: {name: adam, lr: 0.01}}\n"
)


def listed(mlp_cli, folder) -> dict:
    result = mlp_cli("runs", folder, "--json")
    assert result.exit_code == 0, result.stderr
    return {row["name"]: row for row in json.loads(result.stdout)["runs"]}


def test_a_copied_run_keeps_its_recorded_dates_whatever_its_file_times(
    mlp_cli, tmp_path, monkeypatch
):
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG)
    before = datetime.now().astimezone().replace(microsecond=0)
    assert (
        mlp_cli("train", "--config", config, "--out", tmp_path / "runs" / "a", "-q").exit_code == 0
    )
    after = datetime.now().astimezone()
    shutil.copytree(tmp_path / "runs" / "a", tmp_path / "runs" / "copy")
    for path in [tmp_path / "runs" / "copy", *(tmp_path / "runs" / "copy").iterdir()]:
        os.utime(path, (2e9, 2e9))  # the year 2033

    rows = listed(mlp_cli, tmp_path / "runs")
    original, copy = rows["a"], rows["copy"]
    assert before <= datetime.fromisoformat(original["started"]) <= after
    assert original["started"] <= original["saved"]
    assert (copy["started"], copy["saved"], copy["date"]) == (
        original["started"],
        original["saved"],
        original["date"],
    )
    assert copy["date"] == datetime.fromisoformat(original["saved"]).strftime("%Y-%m-%d %H:%M:%S")


def test_an_interrupted_run_is_dated_by_its_last_save_and_shows_its_network(
    mlp_cli, tmp_path, monkeypatch
):
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG)
    runs = tmp_path / "runs"
    assert mlp_cli("train", "--config", config, "--out", runs / "done", "-q").exit_code == 0
    original = mlp.optimizers.Adam.step
    calls = {"n": 0}

    def step_and_interrupt(self, params, grad):
        original(self, params, grad)
        calls["n"] += 1
        if calls["n"] == 10:
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(mlp.optimizers.Adam, "step", step_and_interrupt)
    assert mlp_cli("train", "--config", config, "--out", runs / "stopped").exit_code == 130
    rows = listed(mlp_cli, runs)
    stopped, done = rows["stopped"], rows["done"]
    assert stopped["status"] == "interrupted"
    assert stopped["architecture"] == done["architecture"] == "4 -> 5 -> 3"
    assert stopped["saved"] is not None and stopped["date"] is not None
    assert done["saved"] <= stopped["started"] <= stopped["saved"]


def test_runs_lists_the_folds_of_a_cross_validation_folder_below_it(mlp_cli, tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG.replace("epochs: 4", "epochs: 1"))
    runs = tmp_path / "runs"
    args = ("cv", "--config", config, "--folds", "2", "--jobs", "1", "--out", runs / "c-cv", "-q")
    assert mlp_cli(*args).exit_code == 0
    assert mlp_cli("train", "--config", config, "--out", runs / "plain", "-q").exit_code == 0
    assert set(listed(mlp_cli, runs)) == {"plain", "c-cv/fold-1", "c-cv/fold-2"}
