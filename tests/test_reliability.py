"""Interruption and resume, divergence, disk faults and concurrent runs, through the command."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import yaml

import mlp.optimizers
from mlp.checkpoint import load_training_state

CONFIG = (
    "seed: 11\n"
    "data: {dataset: iris, test_size: 0.2, val_size: 0.1}\n"
    "model: {hidden: [6]}\n"
    "train: {epochs: 6, batch_size: 16, optimizer: {name: adam, lr: 0.01}}\n"
)  # 108 training samples: 7 batches an epoch, 42 steps in all


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "adam.yaml"
    path.write_text(CONFIG)
    return path


def weights(run):
    with np.load(run / "model.npz") as npz:
        return {name: npz[name].copy() for name in npz.files if name[0] in "Wb"}


def assert_same_weights(a, b):
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for name in wa:
        assert wa[name].tobytes() == wb[name].tobytes(), name


def signal_at_step(monkeypatch, step, signum=signal.SIGINT, times=1):
    """Deliver `signum` to this process during the `step`-th optimizer update."""
    calls = {"n": 0}
    original = mlp.optimizers.Adam.step

    def step_and_signal(self, params, grad):
        original(self, params, grad)
        calls["n"] += 1
        if calls["n"] == step:
            for _ in range(times):
                os.kill(os.getpid(), signum)

    monkeypatch.setattr(mlp.optimizers.Adam, "step", step_and_signal)


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
@pytest.mark.parametrize("step", [3, 17, 21])  # mid-epoch 1, mid-epoch 3, end of epoch 3
def test_interrupted_then_resumed_ends_bit_identical_to_uninterrupted(
    mlp_cli, config, tmp_path, monkeypatch, signum, code, step
):
    straight = tmp_path / "straight"
    assert mlp_cli("train", "--config", config, "--out", straight, "-q").exit_code == 0

    run = tmp_path / "interrupted"
    with monkeypatch.context() as patch:
        signal_at_step(patch, step, signum)
        result = mlp_cli("train", "--config", config, "--out", run)
    assert result.exit_code == code
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1 and "Traceback" not in message
    assert f"mlp train --resume {run}" in message
    assert not (run / "summary.json").exists() and not (run / "model.npz").exists()
    state = load_training_state(run / "resume.npz")
    assert state.info["status"] == "interrupted"
    assert state.trainer["epochs_done"] * 7 + state.trainer["batches_done"] == step

    resumed = mlp_cli("train", "--resume", run, "--json")
    assert resumed.exit_code == 0, resumed.stderr
    assert_same_weights(run, straight)
    a = json.loads((straight / "summary.json").read_text())
    b = json.loads(resumed.stdout)
    assert a["final"] == b["final"] and b["epochs"] == 6
    lines = lambda r: [  # noqa: E731
        {k: v for k, v in json.loads(line).items() if k != "seconds"}
        for line in (r / "metrics.jsonl").read_text().splitlines()
    ]
    assert lines(run) == lines(straight)


def test_a_second_ctrl_c_during_the_save_does_not_corrupt_it(
    mlp_cli, config, tmp_path, monkeypatch
):
    straight = tmp_path / "straight"
    mlp_cli("train", "--config", config, "--out", straight, "-q")
    run = tmp_path / "run"
    real_savez = np.savez

    def savez_interrupted(file, **arrays):
        if "params" in arrays:  # saving resume.npz
            os.kill(os.getpid(), signal.SIGINT)  # the impatient second Ctrl-C, mid-save
        real_savez(file, **arrays)

    with monkeypatch.context() as patch:
        signal_at_step(patch, 10)
        patch.setattr(np, "savez", savez_interrupted)
        assert mlp_cli("train", "--config", config, "--out", run).exit_code == 130
    assert load_training_state(run / "resume.npz").info["status"] == "interrupted"
    assert mlp_cli("train", "--resume", run, "-q").exit_code == 0
    assert_same_weights(run, straight)


@pytest.mark.slow
def test_ctrl_c_in_a_real_process_then_resume_gives_the_uninterrupted_result(tmp_path):
    config = tmp_path / "long.yaml"  # far longer than the test waits: Ctrl-C comes mid-run
    config.write_text(CONFIG.replace("epochs: 6", "epochs: 100000").replace("[6]", "[64]"))
    run = tmp_path / "run"
    command = [sys.executable, "-m", "cli", "train", "--config", str(config), "--out", str(run)]
    one = ["--threads", "1"]  # processes that time nothing
    process = subprocess.Popen(
        [*command, *one], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (run / "metrics.jsonl").is_file():
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    assert "--resume" in stderr and "Traceback" not in stderr
    # finish a few epochs after the one it stopped in, and compare with a run of that length
    epochs = load_training_state(run / "resume.npz").trainer["epochs_done"] + 3
    more = f"train.epochs={epochs}"
    resumed = subprocess.run(
        [*command[:4], "--resume", str(run), "--set", more, "-q", *one],
        capture_output=True,
        text=True,
    )
    assert resumed.returncode == 0, resumed.stderr
    straight = tmp_path / "straight"
    subprocess.run(
        [*command[:-1], str(straight), "--set", more, "-q", *one], check=True, capture_output=True
    )
    assert_same_weights(run, straight)


def test_a_finished_run_can_be_extended_and_matches_one_trained_that_long(
    mlp_cli, config, tmp_path
):
    long = tmp_path / "long"
    mlp_cli("train", "--config", config, "--out", long, "--set", "train.epochs=9", "-q")
    run = tmp_path / "run"
    mlp_cli("train", "--config", config, "--out", run, "-q")
    again = mlp_cli("train", "--resume", run)
    assert again.exit_code == 2 and "--set train.epochs=12" in again.stderr
    assert mlp_cli("train", "--resume", run, "--set", "train.epochs=9", "-q").exit_code == 0
    assert_same_weights(run, long)
    assert yaml.safe_load((run / "config.yaml").read_text())["train"]["epochs"] == 9
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 9


def test_resuming_with_a_changed_config_names_the_keys(mlp_cli, config, tmp_path, monkeypatch):
    run = tmp_path / "run"
    with monkeypatch.context() as patch:
        signal_at_step(patch, 5)
        mlp_cli("train", "--config", config, "--out", run)
    before = (run / "resume.npz").read_bytes()
    result = mlp_cli("train", "--resume", run, "--set", "train.optimizer.lr=0.5", "--set", "seed=3")
    assert result.exit_code == 2
    assert "seed, train.optimizer.lr" in result.stderr and "only train.epochs" in result.stderr
    assert (run / "resume.npz").read_bytes() == before


def test_divergence_saves_the_last_finite_state_marked_failed_and_exits_1(
    mlp_cli, config, tmp_path
):
    run = tmp_path / "run"
    result = mlp_cli(
        "train", "--config", config, "--out", run, "--set", "train.optimizer={name: sgd, lr: 1e308}"
    )
    assert result.exit_code == 1
    line = result.stderr.strip()
    assert "diverged" in line and "epoch 1, batch" in line and "smaller train.optimizer.lr" in line
    state = load_training_state(run / "resume.npz")
    assert state.info["status"] == "failed" and np.isfinite(state.params).all()
    assert not (run / "summary.json").exists()
    assert "diverged" in mlp_cli("train", "--resume", run).stderr


def test_saturating_but_finite_inputs_train_without_error(mlp_cli, tmp_path):
    csv = tmp_path / "huge.csv"
    rows = ["a,b,label"] + [f"{i * 1e6},{-i * 1e6},{i % 2}" for i in range(40)]
    csv.write_text("\n".join(rows) + "\n")
    config = tmp_path / "huge.yaml"
    config.write_text(f"data: {{dataset: {csv}, standardize: false}}\ntrain: {{epochs: 2}}\n")
    assert mlp_cli("train", "--config", config, "--out", tmp_path / "run", "-q").exit_code == 0


def test_a_full_disk_while_saving_keeps_earlier_files_and_says_what_failed(
    mlp_cli, config, tmp_path, monkeypatch
):
    run = tmp_path / "run"
    mlp_cli("train", "--config", config, "--out", run, "-q")
    before = {p.name: p.read_bytes() for p in run.iterdir()}

    def disk_full(file, **arrays):
        file.write(b"PK partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", disk_full)
    other = tmp_path / "other"
    result = mlp_cli("train", "--config", config, "--out", other)
    assert result.exit_code == 1
    assert "No space left on device" in result.stderr and "other" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (other / "summary.json").exists()
    assert not [p for p in other.iterdir() if p.name.endswith(".tmp")]
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before


def test_an_unwritable_output_directory_is_one_line(mlp_cli, config, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = mlp_cli("train", "--config", config, "--out", blocker / "run")
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_two_runs_started_together_get_different_directories(config, tmp_path):
    command = [sys.executable, "-m", "cli", "train", "--config", str(config), "-q"]
    command += ["--threads", "1"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    processes = [
        subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    for process in processes:
        process.communicate(timeout=60)
        assert process.returncode == 0
    runs = sorted((tmp_path / "runs").iterdir())
    assert len(runs) == 2
    assert all((run / "summary.json").is_file() for run in runs)


def test_files_half_written_by_a_killed_process_are_cleared_not_mistaken(mlp_cli, config, tmp_path):
    run = tmp_path / "run"
    mlp_cli("train", "--config", config, "--out", run, "-q")
    (run / ".resume.npz.k1ll3d.tmp").write_bytes(b"PK half")  # SIGKILL mid-save leaves this
    result = mlp_cli("train", "--config", config, "--out", run, "--overwrite", "-q")
    assert result.exit_code == 0, result.stderr
    assert not (run / ".resume.npz.k1ll3d.tmp").exists()
    (run / ".notes.txt.x.tmp").write_text("mine")  # not one of ours: still refused
    assert mlp_cli("train", "--config", config, "--out", run, "--overwrite").exit_code == 2


def test_a_run_killed_outright_resumes_from_its_last_autosave(
    mlp_cli, config, tmp_path, monkeypatch
):
    import cli.session

    straight = tmp_path / "straight"
    mlp_cli("train", "--config", config, "--out", straight, "-q")
    run = tmp_path / "killed"
    calls = {"n": 0}
    original = mlp.optimizers.Adam.step

    def step_then_die(self, params, grad):
        original(self, params, grad)
        calls["n"] += 1
        if calls["n"] == 25:  # mid-epoch 4: no handler runs, nothing is saved on the way out
            raise SystemExit(137)

    with monkeypatch.context() as patch:
        patch.setattr(cli.session, "AUTOSAVE_SECONDS", 0.0)  # save at every epoch's end
        patch.setattr(mlp.optimizers.Adam, "step", step_then_die)
        assert mlp_cli("train", "--config", config, "--out", run).exit_code == 137
    state = load_training_state(run / "resume.npz")
    assert state.info["status"] == "running" and state.trainer["epochs_done"] == 3
    assert mlp_cli("train", "--resume", run, "-q").exit_code == 0
    assert_same_weights(run, straight)
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 6
