"""An interrupted `mlp cv`, run again, ends bit for bit where an uninterrupted one ends.

Real processes: the cross-validation is stopped with Ctrl-C (SIGINT) or killed outright
(SIGKILL) while its second fold trains, then the same command is run again.
"""

import os
import signal
import subprocess
import sys
import time

import pytest

CONFIG = (
    "seed: 5\n"
    "data: {dataset: iris, val_size: 0.1}\n"
    "model: {hidden: [16]}\n"
    "train: {epochs: 120, batch_size: 8, optimizer: {name: adam, lr: 0.001}}\n"
)


def cv_command(config, out):
    return [sys.executable, "-m", "cli", "cv", "--config", str(config), "--folds", "3",
            "--jobs", "1", "--threads", "1", "--out", str(out)]  # fmt: skip


def wait_for(path, seconds=60.0):
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGKILL])
def test_an_interrupted_cv_continues_to_the_same_weights(tmp_path, signum):
    config = tmp_path / "iris-long.yaml"
    config.write_text(CONFIG)
    # autosave every epoch, so that a kill loses at most the epoch in progress
    env = {**os.environ, "MLP_AUTOSAVE_SECONDS": "0", "COLUMNS": "200"}
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    done = subprocess.run(cv_command(config, straight), env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr

    process = subprocess.Popen(
        cv_command(config, stopped), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    wait_for(stopped / "fold-2" / "resume.npz")  # fold 1 is done, fold 2 has saved a state
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    assert not (stopped / "fold-2" / "model.npz").exists()  # stopped inside fold 2
    if signum == signal.SIGINT:
        assert process.returncode == 130
        assert len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr
        assert "interrupted after 1 of 3 folds" in stderr
        assert f"continue with: mlp cv --config {config} --folds 3 --out {stopped}" in stderr
    else:
        assert process.returncode == -signal.SIGKILL
    fold_1 = (stopped / "fold-1" / "model.npz").read_bytes()

    again = subprocess.run(cv_command(config, stopped), env=env, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert "continued" in again.stdout
    assert (stopped / "fold-1" / "model.npz").read_bytes() == fold_1  # kept, not retrained
    for k in (1, 2, 3):
        a = (straight / f"fold-{k}" / "model.npz").read_bytes()
        assert (stopped / f"fold-{k}" / "model.npz").read_bytes() == a, f"fold {k}"
