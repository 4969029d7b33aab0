"""`mlp sweep`: grids, parallel points, re-runs, failures (a Dask cluster: test_remote.py)."""

import json
import os
import signal
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

import mlp.optimizers
from cli.sweep import load_grid

BASE = (
    "seed: 5\n"
    "data: {dataset: iris, test_size: 0.2, val_size: 0.2}\n"
    "model: {hidden: [6]}\n"
    "train: {epochs: 15, batch_size: 16, optimizer: {name: adam, lr: 0.01}}\n"
)
GRID = "train.optimizer.lr: [0.003, 0.03]\nmodel.hidden: [[4], [8]]\n"


@pytest.fixture
def files(tmp_path):
    (tmp_path / "base.yaml").write_text(BASE)
    (tmp_path / "grid.yaml").write_text(GRID)
    return tmp_path


def sweep(mlp_cli, files, out, *extra):
    return mlp_cli(
        "sweep",
        "--config",
        files / "base.yaml",
        "--grid",
        files / "grid.yaml",
        "--out",
        out,
        "--json",
        *extra,
    )


def weights(run_dir):
    with np.load(Path(run_dir) / "model.npz") as npz:
        return b"".join(npz[name].tobytes() for name in ("W1", "b1", "W2", "b2"))


def test_a_full_grid_is_every_combination_in_order(files):
    points = load_grid(files / "grid.yaml", seed=0)
    assert [p.values for p in points] == [
        {"train.optimizer.lr": 0.003, "model.hidden": [4]},
        {"train.optimizer.lr": 0.003, "model.hidden": [8]},
        {"train.optimizer.lr": 0.03, "model.hidden": [4]},
        {"train.optimizer.lr": 0.03, "model.hidden": [8]},
    ]
    assert len({p.id for p in points}) == 4 and points[0].id.startswith("000-")
    assert points[1].overrides == ["train.optimizer.lr=0.003", "model.hidden=[8]"]


def test_random_search_draws_reproducibly_within_the_ranges(tmp_path):
    grid = tmp_path / "random.yaml"
    grid.write_text(
        "samples: 50\n"
        "train.optimizer.lr: {low: 0.001, high: 0.1, log: true}\n"
        "train.batch_size: {low: 8, high: 12}\n"
        "train.weight_decay: {low: 0.0, high: 0.5}\n"
        "model.hidden: [[4], [8]]\n"
    )
    points = load_grid(grid, seed=1)
    assert points == load_grid(grid, seed=1) and points != load_grid(grid, seed=2)
    lrs = np.array([p.values["train.optimizer.lr"] for p in points])
    assert ((lrs >= 0.001) & (lrs <= 0.1)).all()
    assert (lrs < 0.01).mean() > 0.3  # log-uniform: half the draws below the geometric middle
    assert {p.values["train.batch_size"] for p in points} == {8, 9, 10, 11, 12}
    assert {str(p.values["model.hidden"]) for p in points} == {"[4]", "[8]"}


def test_a_sweep_runs_every_point_ranks_them_and_writes_the_best_config(mlp_cli, files):
    out = files / "sweep"
    result = sweep(mlp_cli, files, out, "--jobs", "2")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    points = report["points"]
    assert len(points) == 4 and all(p["status"] == "completed" for p in points)
    accuracies = [p["best_val_accuracy"] for p in points]
    assert accuracies == sorted(accuracies, reverse=True)
    assert [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()] == [
        {k: v for k, v in p.items()} for p in points
    ]
    best = report["best"]
    assert best == points[0]
    best_config = yaml.safe_load((out / "best.yaml").read_text())
    assert best_config["train"]["optimizer"]["lr"] == best["overrides"]["train.optimizer.lr"]
    assert best_config["model"]["hidden"] == best["overrides"]["model.hidden"]
    # each point is an ordinary run
    evaluated = json.loads(mlp_cli("eval", out / best["id"], "--json").stdout)
    assert evaluated["accuracy"] == pytest.approx(best["test_accuracy"])


def test_the_number_of_jobs_does_not_change_any_result(mlp_cli, files):
    one = json.loads(sweep(mlp_cli, files, files / "one", "--jobs", "1").stdout)["points"]
    two = json.loads(sweep(mlp_cli, files, files / "two", "--jobs", "2").stdout)["points"]
    strip = [{k: v for k, v in p.items() if k not in ("seconds", "run")} for p in one]
    assert strip == [{k: v for k, v in p.items() if k not in ("seconds", "run")} for p in two]
    for p in one:
        assert weights(files / "one" / p["id"]) == weights(files / "two" / p["id"])


def test_a_rerun_skips_finished_points(mlp_cli, files):
    out = files / "sweep"
    sweep(mlp_cli, files, out, "--jobs", "1")
    stamps = {p.name: (p / "model.npz").stat().st_mtime_ns for p in out.iterdir() if p.is_dir()}
    again = json.loads(sweep(mlp_cli, files, out, "--jobs", "2").stdout)
    assert all(p["skipped"] for p in again["points"])
    assert {p.name: (p / "model.npz").stat().st_mtime_ns for p in out.iterdir() if p.is_dir()} == (
        stamps
    )


def test_a_diverging_point_is_recorded_as_failed_and_the_others_finish(mlp_cli, files):
    (files / "grid.yaml").write_text("train.optimizer: [{name: sgd, lr: 1e308}, {name: adam}]\n")
    result = sweep(mlp_cli, files, files / "sweep", "--jobs", "2")
    assert result.exit_code == 0
    points = json.loads(result.stdout)["points"]
    failed = [p for p in points if p["status"] == "failed"]
    assert len(failed) == 1 and "diverged" in failed[0]["error"]
    assert points[0]["status"] == "completed"  # ranked first
    # re-running redoes the failed point (and fails it again), keeping the finished one
    again = json.loads(sweep(mlp_cli, files, files / "sweep").stdout)["points"]
    assert [p.get("skipped") for p in again if p["status"] == "completed"] == [True]


def test_an_interrupted_sweep_finishes_on_rerun_with_the_same_results(mlp_cli, files, monkeypatch):
    clean = json.loads(sweep(mlp_cli, files, files / "clean", "--jobs", "1").stdout)["points"]
    calls = {"n": 0}
    original = mlp.optimizers.Adam.step

    def step_and_interrupt(self, params, grad):
        original(self, params, grad)
        calls["n"] += 1
        if calls["n"] == 40:  # in the second point (15 epochs x 5 batches = 75 steps a point)
            os.kill(os.getpid(), signal.SIGINT)

    out = files / "sweep"
    with monkeypatch.context() as patch:
        patch.setattr(mlp.optimizers.Adam, "step", step_and_interrupt)
        stopped = sweep(mlp_cli, files, out, "--jobs", "1")
    assert stopped.exit_code == 130
    assert f"continue with: mlp sweep --config {files / 'base.yaml'}" in stopped.stderr
    finished = json.loads(sweep(mlp_cli, files, out, "--jobs", "1").stdout)["points"]
    assert sorted(p["id"] for p in finished) == sorted(p["id"] for p in clean)
    for p in clean:
        assert weights(files / "clean" / p["id"]) == weights(out / p["id"])


@pytest.mark.parametrize(
    ("grid", "culprit"),
    [
        ("train.optimizer.lr: 0.1\n", "must be a non-empty list"),
        ("train.optimizer.lr: []\n", "must be a non-empty list"),
        ("[1, 2]\n", "a grid must map dotted config keys"),
        ("samples: 0\ntrain.optimizer.lr: [0.1]\n", "samples: must be an integer >= 1"),
        ("samples: 3\ntrain.optimizer.lr: {low: 1, high: 0}\n", "low <= high"),
        ("samples: 3\ntrain.optimizer.lr: {low: 0, high: 1, log: true}\n", "low > 0"),
        ("train.optimizer.lrr: [0.1]\n", "train.optimizer.lrr: unknown key"),
        ("train.epochs: [3, 0]\n", "point 001"),
    ],
)
def test_a_bad_grid_is_one_line_and_nothing_runs(mlp_cli, files, grid, culprit):
    (files / "grid.yaml").write_text(grid)
    result = sweep(mlp_cli, files, files / "sweep")
    assert result.exit_code == 2 and culprit in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (files / "sweep").exists()


def test_dask_needs_a_scheduler_and_the_extra(mlp_cli, files, monkeypatch):
    assert "--scheduler" in sweep(mlp_cli, files, files / "s", "--backend", "dask").stderr
    monkeypatch.setitem(sys.modules, "dask.distributed", None)
    result = sweep(mlp_cli, files, files / "s", "--backend", "dask", "--scheduler", "tcp://x:1")
    assert result.exit_code == 2 and "pip install 'mlp-trainer[dask]'" in result.stderr


def _children(pid):
    """Process ids whose parent is `pid` (from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry))
    return found


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM, signal.SIGHUP])
def test_killing_the_sweep_stops_its_workers_within_seconds(files, signum):
    import subprocess
    import time

    (files / "base.yaml").write_text(BASE.replace("epochs: 15", "epochs: 100000"))
    out = files / "sweep"
    command = [sys.executable, "-m", "cli", "sweep", "--config", str(files / "base.yaml")]
    command += ["--grid", str(files / "grid.yaml"), "--out", str(out), "--jobs", "2"]
    sweep_process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list(out.glob("*/metrics.jsonl"))) < 2:
        time.sleep(0.05)
    workers = _children(sweep_process.pid)
    assert workers, "the sweep started no worker processes"
    sweep_process.send_signal(signum)
    sweep_process.wait(timeout=30)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(map(_alive, workers)):
        time.sleep(0.1)
    assert not [pid for pid in workers if _alive(pid)]
    sizes = {p: p.stat().st_size for p in out.glob("*/metrics.jsonl")}
    time.sleep(0.5)
    assert sizes == {p: p.stat().st_size for p in out.glob("*/metrics.jsonl")}  # none trains


def test_a_damaged_point_is_redone_on_rerun(mlp_cli, files):
    out = files / "sweep"
    first = json.loads(sweep(mlp_cli, files, out, "--jobs", "1").stdout)["points"]
    damaged = out / first[0]["id"]
    (damaged / "summary.json").write_text("{ not json")
    again = json.loads(sweep(mlp_cli, files, out, "--jobs", "1").stdout)["points"]
    by_id = {p["id"]: p for p in again}
    assert by_id[first[0]["id"]]["skipped"] is False
    assert by_id[first[0]["id"]]["status"] == "completed"
    assert sum(p["skipped"] for p in again) == len(first) - 1


def test_every_mistake_of_a_grid_point_names_the_grid_and_the_point(mlp_cli, files):
    (files / "grid.yaml").write_text("train.optimizer.lr: [-1]\ntrain.epochs: [0]\n")
    result = sweep(mlp_cli, files, files / "sweep")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    grid = files / "grid.yaml"
    assert len(lines) == 2 and all(line.startswith(f"error: {grid}: point 000-") for line in lines)
    assert "train.optimizer.lr=-1: train.optimizer.lr: must be a number > 0" in lines[0]
    assert "train.epochs=0: train.epochs: must be an integer >= 1" in lines[1]
    assert "--set" not in result.stderr  # a grid value is the grid's, not a --set
