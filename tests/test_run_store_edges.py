"""The run store's edges (issue 22): readers that see one commit or none, vouched digests,
files that are links, FIFOs or devices, a damaged config of an interrupted run, one sweep or
cv per folder, and the store's messages."""

import errno
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import cli.rundir
from cli.rundir import RunError, inspect_run, open_completed
from mlp.checkpoint import atomic_write, checkpoint_arrays

CONFIG = (
    "seed: SEED\n"
    "data: {dataset: iris, test_size: 0.2, val_size: 0.1}\n"
    "model: {hidden: [4]}\n"
    "train: {epochs: 2, batch_size: 64, optimizer: {name: adam, lr: 0.01}}\n"
)
SWEEP_CONFIG = CONFIG.replace("SEED", "5")
GRID = "train.optimizer.lr: [0.01, 0.05]\n"


def write_config(folder: Path, seed: int = 5, name: str = "tiny.yaml") -> Path:
    path = folder / name
    path.write_text(CONFIG.replace("SEED", str(seed)))
    return path


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """Two complete runs of the same network on different splits (seeds 5 and 6)."""
    from typer.testing import CliRunner

    from cli.app import app

    folder = tmp_path_factory.mktemp("two")
    runs = []
    for seed in (5, 6):
        config = write_config(folder, seed, f"seed{seed}.yaml")
        run = folder / f"run{seed}"
        args = ["train", "--config", str(config), "--out", str(run), "-q", "--threads", "1"]
        assert CliRunner().invoke(app, args).exit_code == 0
        runs.append(run)
    return runs


def copy_run(source: Path, target: Path) -> Path:
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(".lock"))
    return target


def mlp(*args, timeout=60, **kwargs):
    """`mlp ARGS` as a real process: (exit code, stdout, stderr)."""
    env = {**os.environ, "COLUMNS": "120", "OPENBLAS_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        **kwargs,
    )
    return done.returncode, done.stdout, done.stderr


def start_mlp(*args):
    env = {**os.environ, "COLUMNS": "120", "OPENBLAS_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "cli", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


# -- contract 1: readers see one commit or none -------------------------------------------------


def _run_files(run: Path) -> dict[str, bytes]:
    return {name: (run / name).read_bytes() for name in cli.rundir.RUN_FILES}


def _commit_run(target: Path, files: dict[str, bytes]) -> None:
    """Replace the complete run in `target` by another, as `--overwrite` does: every file
    staged in .staged/, summary.json last, then moved over the run's."""
    staged = target / cli.rundir.STAGED_DIR
    staged.mkdir()
    for name in cli.rundir._WRITE_ORDER:
        atomic_write(staged / name, lambda file, data=files[name]: file.write(data))
    cli.rundir._commit(target)


def test_a_reader_racing_overwrites_never_pairs_files_of_two_commits(two_runs, tmp_path):
    # Two commits with the same shapes: a split of one paired with the model of the other
    # would score the wrong rows silently. Each read is identified by both its files.
    versions = [_run_files(run) for run in two_runs]
    splits = [open_completed(run).split["train"].tobytes() for run in two_runs]
    models = [open_completed(run).checkpoint.model.params.tobytes() for run in two_runs]
    assert splits[0] != splits[1] and models[0] != models[1]
    target = copy_run(two_runs[0], tmp_path / "raced")
    stop = threading.Event()

    def overwrite_again_and_again():
        lock = cli.rundir.RunLock(target)
        try:
            turn = 1
            while not stop.is_set():
                _commit_run(target, versions[turn])
                turn = 1 - turn
        finally:
            lock.release()

    writer = threading.Thread(target=overwrite_again_and_again)
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)  # the two threads take turns often: more reads meet a commit
    writer.start()
    seen = {"mixed": 0, "none": 0, "whole": 0}
    names = ("split.npz", "model.npz")
    try:
        # Many thousand reads of the files as eval takes them (fast: bytes checked, not
        # parsed), then some whole opens, arrays and model parsed.
        while seen["whole"] < 3000:
            try:
                _, files = cli.rundir.completed_files(target, names)
            except RunError:  # a reader may see no commit at all (told in one line)
                seen["none"] += 1
                continue
            pair = [[v[name] for v in versions].index(files[name]) for name in names]
            seen["whole" if pair[0] == pair[1] else "mixed"] += 1
        while seen["whole"] < 3100:
            try:
                run = open_completed(target)
            except RunError:  # a reader may see no commit at all (told in one line)
                seen["none"] += 1
                continue
            split = splits.index(run.split["train"].tobytes())
            model = models.index(run.checkpoint.model.params.tobytes())
            seen["whole" if split == model else "mixed"] += 1
    finally:
        stop.set()
        writer.join()
        sys.setswitchinterval(switch)
    assert seen["mixed"] == 0, seen
    assert seen["none"] < 100, seen


def test_an_edit_to_any_vouched_file_makes_the_run_damaged_naming_it(mlp_cli, two_runs, tmp_path):
    cases = {
        "summary.json": lambda text: text.replace('"iris"', '"ibis"'),
        "data.json": lambda text: text.replace('"iris"', '"ibis"'),
        "metrics.jsonl": lambda text: text.replace('"epoch": 2', '"epoch": 2 '),
        "config.yaml": lambda text: text.replace("hidden:", "hidden: ", 1),
    }
    for name, edit in cases.items():
        run = copy_run(two_runs[0], tmp_path / name)
        text = (run / name).read_text()
        assert edit(text) != text, name  # the edit is a real one
        (run / name).write_text(edit(text))
        state = inspect_run(run)
        assert state.status == "damaged" and f"{run / name}: damaged" in state.problem, name
        result = mlp_cli("eval", run)
        assert result.exit_code == 2 and f"{run / name}: damaged" in result.stderr, name
    run = copy_run(two_runs[0], tmp_path / "split")
    flipped = bytearray((run / "split.npz").read_bytes())
    flipped[-30] ^= 1  # one bit of the zip directory
    (run / "split.npz").write_bytes(bytes(flipped))
    assert f"{run / 'split.npz'}: damaged" in inspect_run(run).problem


def test_a_summary_records_the_sha256_of_every_file_and_of_itself(two_runs):
    import hashlib

    run = two_runs[0]
    summary = json.loads((run / "summary.json").read_text())
    for name in ("config.yaml", "data.json", "split.npz", "metrics.jsonl", "model.npz"):
        assert summary["files"][name] == hashlib.sha256((run / name).read_bytes()).hexdigest()
    body = {key: value for key, value in summary.items() if key != "checksum"}
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    assert summary["checksum"] == digest


# -- contract 2: a damaged config.yaml of an interrupted run is never resumed ------------------


@pytest.fixture
def interrupted_run(mlp_cli, tmp_path, monkeypatch):
    """A run of 300 epochs (batch 16) interrupted by Ctrl-C after its second epoch."""
    from mlp import Trainer

    config = tmp_path / "long.yaml"
    long = SWEEP_CONFIG.replace("epochs: 2, batch_size: 64", "epochs: 300, batch_size: 16")
    config.write_text(long)
    real = Trainer.run

    def run(self, epochs):
        for report in real(self, epochs):
            yield report
            if report.epoch == 2:
                os.kill(os.getpid(), signal.SIGINT)

    run_dir = tmp_path / "interrupted"
    with monkeypatch.context() as patch:
        patch.setattr(Trainer, "run", run)
        assert mlp_cli("train", "--config", config, "--out", run_dir, "-q").exit_code == 130
    assert inspect_run(run_dir).status == "interrupted"
    return run_dir


def test_a_truncated_config_of_an_interrupted_run_is_damaged_not_resumed(mlp_cli, interrupted_run):
    config = interrupted_run / "config.yaml"
    text = config.read_text()
    config.write_text(text[: text.index("train:")])  # the train: section cut off
    state = inspect_run(interrupted_run)
    assert state.status == "damaged" and f"{config}: damaged" in state.problem
    result = mlp_cli("train", "--resume", interrupted_run, "-q")
    assert result.exit_code == 2
    assert one_line(result.stderr).startswith(f"error: {config}: damaged")
    assert not (interrupted_run / "summary.json").exists()


def test_an_interrupted_run_given_more_epochs_resumes_and_stays_vouched(mlp_cli, interrupted_run):
    # A new config (more epochs) is vouched for by the state before it is written.
    result = mlp_cli("train", "--resume", interrupted_run, "--set", "train.epochs=3", "-q")
    assert result.exit_code == 0, result.stderr
    assert json.loads((interrupted_run / "summary.json").read_text())["epochs"] == 3


# -- contract 3: links, FIFOs and devices in place of run files ---------------------------------

RUN_FILE_NAMES = [*cli.rundir.RUN_FILES, ".lock"]


@pytest.mark.slow
def test_a_fifo_in_place_of_any_run_file_is_damaged_at_once(two_runs, tmp_path):
    # Real processes, started together: one `mlp runs` over a run per file, and an `mlp eval`
    # of each run (eval takes no lock); each must answer, in one line, without blocking.
    folder = tmp_path / "runs"
    processes = {}
    for name in RUN_FILE_NAMES:
        run = copy_run(two_runs[0], folder / name.lstrip("."))
        (run / name).unlink(missing_ok=True)
        os.mkfifo(run / name)
        if name != ".lock":
            processes[name] = start_mlp("eval", run)
    processes["runs"] = start_mlp("runs", folder, "--json")
    started = time.monotonic()
    outcomes = {key: process.communicate(timeout=60) for key, process in processes.items()}
    assert time.monotonic() - started < 30  # none of them hangs on a FIFO
    stdout, stderr = outcomes.pop("runs")
    rows = {row["name"]: row for row in json.loads(stdout)["runs"]}
    assert processes["runs"].returncode == 0 and len(rows) == len(RUN_FILE_NAMES), stderr
    for name in RUN_FILE_NAMES:
        damaged = f"{name}: damaged (a FIFO, not a file the run wrote)"
        row = rows[name.lstrip(".")]
        assert row["status"] == "damaged" and damaged in row["problem"], name
        if name in outcomes:
            code, stderr = processes[name].returncode, outcomes[name][1]
            assert code == 2 and damaged in one_line(stderr), (name, stderr)


def test_a_fifo_resume_file_is_named_as_such_on_resume(mlp_cli, interrupted_run):
    (interrupted_run / "resume.npz").unlink()
    os.mkfifo(interrupted_run / "resume.npz")
    code, _, stderr = mlp("train", "--resume", interrupted_run, timeout=30)
    assert code == 2
    assert "resume.npz: damaged (a FIFO" in one_line(stderr)
    assert "no such checkpoint file" not in stderr


@pytest.mark.slow
def test_a_lock_link_never_truncates_its_target(two_runs, tmp_path):
    outside = tmp_path / "precious.txt"
    outside.write_text("not the run's\n")
    run = copy_run(two_runs[0], tmp_path / "run")
    (run / ".lock").symlink_to(outside)
    code, _, stderr = mlp("train", "--resume", run, "--set", "train.epochs=3", "-q")
    assert code == 2
    assert f"{run / '.lock'}: damaged (a symbolic link" in one_line(stderr)
    assert outside.read_text() == "not the run's\n"
    assert inspect_run(run).status == "damaged"


@pytest.mark.slow
def test_a_staged_link_to_another_run_is_neither_read_nor_moved(two_runs, tmp_path):
    other = copy_run(two_runs[1], tmp_path / "other")
    before = {p.name: p.read_bytes() for p in other.iterdir()}
    run = copy_run(two_runs[0], tmp_path / "run")
    (run / ".staged").symlink_to(other)
    code, _, stderr = mlp("eval", run)
    assert code == 2 and f"{run / '.staged'}: damaged (a symbolic link" in one_line(stderr)
    config = write_config(tmp_path, 5)
    code, _, stderr = mlp("train", "--config", config, "--out", run, "--overwrite", "-q")
    assert code == 0, stderr
    assert {p.name: p.read_bytes() for p in other.iterdir()} == before  # nothing moved
    assert not (run / ".staged").exists() and inspect_run(run).status == "completed"


@pytest.mark.slow
def test_links_inside_a_run_are_damaged_and_never_written_through(two_runs, tmp_path):
    outside = tmp_path / "outside.jsonl"
    outside.write_text("")
    run = copy_run(two_runs[0], tmp_path / "run")
    (run / "summary.json").unlink()  # interrupted: a resume would append to metrics.jsonl
    (run / "model.npz").unlink()
    (run / "metrics.jsonl").unlink()
    (run / "metrics.jsonl").symlink_to(outside)
    code, _, stderr = mlp("train", "--resume", run, "--set", "train.epochs=4", "-q")
    assert code == 2 and "metrics.jsonl: damaged (a symbolic link" in one_line(stderr)
    assert outside.read_text() == ""
    zero = copy_run(two_runs[0], tmp_path / "zero")
    (zero / "model.npz").unlink()
    (zero / "model.npz").symlink_to("/dev/zero")
    started = time.monotonic()
    code, _, stderr = mlp("eval", zero, timeout=30)
    assert code == 2 and "model.npz: damaged (a symbolic link" in one_line(stderr)
    assert time.monotonic() - started < 20  # not read until memory runs out


def test_the_run_directory_itself_may_be_a_link(mlp_cli, two_runs, tmp_path):
    latest = tmp_path / "latest"
    latest.symlink_to(two_runs[0])
    assert inspect_run(latest).status == "completed"
    result = mlp_cli("eval", latest, "--json")
    assert result.exit_code == 0, result.stderr


def test_an_oversized_run_file_is_refused_before_it_is_read(two_runs, tmp_path):
    run = copy_run(two_runs[0], tmp_path / "run")
    with open(run / "summary.json", "r+b") as file:
        file.truncate(17 << 20)  # a sparse file: large, yet costs no disk
    assert "bytes, more than a run's summary.json can hold" in inspect_run(run).problem


# -- contract 6: one sweep or cv per folder ------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("command", ["sweep", "cv"])
def test_a_second_sweep_or_cv_on_the_same_folder_is_refused_naming_the_holder(
    mlp_cli, tmp_path, command
):
    config = tmp_path / "long.yaml"
    config.write_text(SWEEP_CONFIG.replace("epochs: 2", "epochs: 100000"))
    (tmp_path / "grid.yaml").write_text(GRID)
    out = tmp_path / "out"
    if command == "sweep":
        args = ["sweep", "--config", config, "--grid", tmp_path / "grid.yaml", "--jobs", "1"]
    else:
        args = ["cv", "--config", config, "--folds", "2", "--jobs", "1"]
    first = start_mlp(*args, "--out", out)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not list(out.glob("*/metrics.jsonl")):
            time.sleep(0.05)
        second = mlp_cli(*args, "--out", out)
        assert second.exit_code == 2
        line = one_line(second.stderr)
        assert f"busy: process {first.pid} is running an mlp {command} in this folder" in line
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=30)


@pytest.mark.parametrize("damage", ["truncated", "missing"])
def test_a_sweep_rerun_redoes_a_point_whose_metrics_do_not_check_out(mlp_cli, tmp_path, damage):
    config = tmp_path / "base.yaml"
    config.write_text(SWEEP_CONFIG)
    grid = tmp_path / "grid.yaml"
    grid.write_text(GRID)
    out = tmp_path / "sweep"
    args = ["sweep", "--config", config, "--grid", grid, "--out", out, "--jobs", "1", "--json"]
    first = json.loads(mlp_cli(*args).stdout)
    point = Path(first["points"][0]["run"])
    metrics = point / "metrics.jsonl"
    if damage == "truncated":
        metrics.write_text(metrics.read_text().splitlines(keepends=True)[0])
    else:
        metrics.unlink()
    assert inspect_run(point).status == "damaged"
    again = json.loads(mlp_cli(*args).stdout)
    rows = {row["id"]: row for row in again["points"]}
    redone = rows[first["points"][0]["id"]]
    assert redone["status"] == "completed" and redone["epochs"] == 2
    assert len(metrics.read_text().splitlines()) == 2
    for before in first["points"]:  # the same numbers as the first time, the same winner
        after = rows[before["id"]]
        assert after["best_val_accuracy"] == before["best_val_accuracy"]
        assert after["best_val_loss"] == before["best_val_loss"]
    assert again["best"]["id"] == first["best"]["id"]


# -- contract 11: the store's messages ------------------------------------------------------------


def test_a_new_lock_holder_is_named_even_before_it_writes_its_pid(tmp_path):
    import fcntl

    run = tmp_path / "run"
    run.mkdir()
    fd = os.open(run / ".lock", os.O_RDWR | os.O_CREAT, 0o666)
    fcntl.flock(fd, fcntl.LOCK_EX)  # taken, its pid not yet written (a new holder's moment)
    threading.Timer(0.2, lambda: os.write(fd, b"4242\n")).start()
    try:
        with pytest.raises(RunError, match="busy: process 4242 is writing this run"):
            cli.rundir.RunLock(run)
    finally:
        time.sleep(0.25)
        os.close(fd)


def test_a_data_change_shows_digests_that_differ():
    recorded = {"kind": "file", "path": "x.csv", "size": 10, "sha256": "ab" * 8 + "c" + "0" * 47}
    now = {**recorded, "sha256": "ab" * 8 + "d" + "0" * 47}  # the same first 16 characters
    line = cli.rundir.describe_data_change(recorded, now)
    old, new = line.split("sha256 ")[1].rstrip(")").split(" -> ")
    assert old != new and old.startswith("ab" * 8 + "c") and new.startswith("ab" * 8 + "d")


def test_a_failed_rename_names_the_real_file_not_the_temporary_one(tmp_path):
    target = tmp_path / "model.npz"
    target.mkdir()  # a directory where the file goes: the rename fails
    with pytest.raises(OSError) as raised:
        atomic_write(target, lambda file: file.write(b"x"))
    assert raised.value.filename == str(target)
    assert list(tmp_path.iterdir()) == [target]  # no temporary file left


@pytest.mark.slow
@pytest.mark.parametrize(
    ("epochs", "limit", "culprit"),  # found by trying limits: each stops at another file
    [
        (2, 300, "config.yaml"),
        (2, 1500, "split.npz"),
        (2, 2500, "resume.npz"),
        (40, 2500, "metrics.jsonl"),
    ],
)
def test_a_file_size_limit_on_any_run_file_exits_1_in_one_line(tmp_path, epochs, limit, culprit):
    config = write_config(tmp_path, 5)
    run = tmp_path / "run"

    def cap():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    more = ["--set", f"train.epochs={epochs}"]
    code, _, stderr = mlp("train", "--config", config, "--out", run, *more, "-q", preexec_fn=cap)
    assert code == 1, stderr
    assert f"{run / culprit}: {os.strerror(errno.EFBIG)}" in one_line(stderr)


def test_the_dataset_cache_follows_the_umask(tmp_path, monkeypatch):
    from data import cache

    monkeypatch.setenv("MLP_CACHE_DIR", str(tmp_path / "cache"))
    old = os.umask(0o022)
    try:
        cache.cached("t", "k", ("a",), lambda: {"a": np.arange(3)}, lambda arrays: True)
    finally:
        os.umask(old)
    (stored,) = (tmp_path / "cache").iterdir()
    assert stored.stat().st_mode & 0o777 == 0o644  # 0666 less the umask, as run files


def test_weights_read_from_a_run_are_its_models(two_runs):
    # checkpoint_arrays is the file format's own list: the run's checkpoint is its model.npz
    arrays = checkpoint_arrays(open_completed(two_runs[0]).checkpoint)
    with np.load(two_runs[0] / "model.npz") as npz:
        assert all(np.array_equal(arrays[name], npz[name]) for name in ("W1", "b1", "W2", "b2"))
