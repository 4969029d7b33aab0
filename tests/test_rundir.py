"""The run directory as a small database: complete or resumable at every moment (SIGKILL at
every step of the write protocol), one writer at a time, short writes, damaged files."""

import functools
import json
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import one_thread

import cli.rundir
from cli.rundir import inspect_run
from mlp.checkpoint import checkpoint_arrays

CONFIG = (
    "seed: 4\n"
    "data: {dataset: iris, test_size: 0.2, val_size: 0.1}\n"
    "model: {hidden: [5]}\n"
    "train: {epochs: 3, batch_size: 64, optimizer: {name: adam, lr: 0.01}}\n"
)  # 108 training rows: 2 batches an epoch


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(CONFIG)
    return path


@pytest.fixture(scope="module", autouse=True)
def imports_done(tmp_path_factory):
    """One run in this process first, so that forked children start with every lazy import
    done (each would otherwise spend most of a second importing)."""
    from typer.testing import CliRunner

    from cli.app import app

    folder = tmp_path_factory.mktemp("warm")
    (folder / "tiny.yaml").write_text(CONFIG)
    args = ["train", "--config", str(folder / "tiny.yaml"), "--out", str(folder / "run"), "-q"]
    assert CliRunner().invoke(app, args).exit_code == 0


def forked_mlp(args, kill_at_step=0, kill_after=None, retried=False):
    """Run `mlp ARGS` in a forked child (a real process, without the start-up cost of a new
    interpreter); it SIGKILLs itself at protocol step `kill_at_step`, or is killed by us
    `kill_after` seconds in. Returns the child's wait status as (exit code, signal)."""

    command = _command()  # built here, once, not in every child
    if args[0] == "train":
        args = [*args, "-q"]  # the protocol is what is tested, not the tables and charts
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 1
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115 (until _exit)
            cli.rundir._KILL_AT_STEP, cli.rundir._steps_taken = kill_at_step, 0
            command.main([str(a) for a in one_thread(args)], prog_name="mlp")
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        finally:
            os._exit(code)
    if kill_after is not None:
        time.sleep(kill_after)
        os.kill(pid, signal.SIGKILL)
    status = _wait(pid)
    if status is None:
        # A child forked from this multi-threaded worker (OpenBLAS's and onnxruntime's
        # threads) can still deadlock on a lock one of them held at the fork, as it did in
        # pydantic before _build_coercions. Killed, it is one more SIGKILL at an arbitrary
        # moment, which the protocol under test survives; a fresh fork takes the command again.
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        assert not retried, f"a forked `mlp {' '.join(map(str, args))}` hung twice"
        return forked_mlp(args, kill_at_step, kill_after, retried=True)
    if os.WIFSIGNALED(status):
        return None, os.WTERMSIG(status)
    return os.WEXITSTATUS(status), None


@functools.cache
def _command():
    """The app as a click command, with every option's value coercion built here, before any
    fork. Typer builds them lazily, on the first parse, through pydantic; a forked child that
    built one (inherited from a worker with other threads) deadlocked inside pydantic-core
    every time, in the same state. Built once: building them takes a tenth of a second."""
    import typer

    from cli.app import app

    command = typer.main.get_command(app)
    for sub in [command, *getattr(command, "commands", {}).values()]:
        for param in sub.params:
            if hasattr(param, "get_runtime_param"):
                param.get_runtime_param()
    return command


FORK_DEADLINE = 60.0  # seconds a forked child may take; a tiny run takes well under one


def _wait(pid: int) -> int | None:
    """The child's wait status, or None if it is still running after FORK_DEADLINE."""
    deadline = time.monotonic() + FORK_DEADLINE
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        time.sleep(0.005)
    return None


def weights(run):
    with np.load(run / "model.npz") as npz:
        return {name: npz[name].tobytes() for name in npz.files if name[0] in "Wb"}


def files(run):
    return {p.name: p.read_bytes() for p in run.iterdir() if p.is_file() and p.name != ".lock"}


def assert_complete_or_resumable(run):
    """Guarantee 1: complete (model and summary agree), or `--resume` can finish it."""
    state = inspect_run(run)
    assert state.status in ("completed", "interrupted"), (state.status, state.problem)
    if state.status == "completed":  # as mlp reads it: a committed change counts as done
        cli.rundir.open_completed(run)  # every file the summary vouches for checks out
    return state.status


def weights_as_read(run):
    """The weights of a complete run as `mlp eval` reads them (a committed change counts)."""
    arrays = checkpoint_arrays(cli.rundir.open_completed(run).checkpoint)
    return {name: array.tobytes() for name, array in arrays.items() if name[0] in "Wb"}


@pytest.fixture
def reference(config, tmp_path):
    """Uninterrupted runs of 3 and 5 epochs, to compare every recovered run with."""
    runs = {}
    for epochs in (3, 5):
        run = tmp_path / f"straight-{epochs}"
        code, _ = forked_mlp(
            ["train", "--config", config, "--out", run, "--set", f"train.epochs={epochs}"]
        )
        assert code == 0
        runs[epochs] = weights(run)
    return runs


def killed_and_finished(config, tmp_path, limit: int):
    """Kill `mlp train` at each step of the write protocol in turn (up to `limit`), then
    finish that run as a user would (again, or with --resume); yields (step, run) until a run
    is no longer killed: every step has been cut."""
    for step in range(1, limit):
        run = tmp_path / f"killed-{step}"
        code, sig = forked_mlp(["train", "--config", config, "--out", run], kill_at_step=step)
        if code == 0:
            return
        assert sig == signal.SIGKILL
        if not (run / "config.yaml").exists():  # killed before the run existed: start again
            assert forked_mlp(["train", "--config", config, "--out", run]) == (0, None)
        elif assert_complete_or_resumable(run) == "interrupted":
            assert forked_mlp(["train", "--resume", run]) == (0, None)
        yield step, run


@pytest.mark.slow
def test_a_kill_at_any_step_of_a_new_run_leaves_it_complete_or_resumable(
    config, tmp_path, reference, monkeypatch
):
    monkeypatch.setenv("MLP_AUTOSAVE_SECONDS", "0")  # save the state at every epoch's end
    monkeypatch.setattr("cli.session.AUTOSAVE_SECONDS", 0.0)
    killed_at = []
    for step, run in killed_and_finished(config, tmp_path, 200):
        killed_at.append(step)
        assert weights(run) == reference[3], f"killed at step {step}"
    # config, data and split, 3 epochs of metrics and saved state, final state, model, summary
    assert len(killed_at) >= 24


CHANGES = {  # two ways to replace a complete 3-epoch run with the 5-epoch one
    "extension": ["train", "--resume", "RUN", "--set", "train.epochs=5"],
    "overwrite": [
        "train",
        "--config",
        "CONFIG",
        "--out",
        "RUN",
        "--overwrite",
        "--set",
        "train.epochs=5",
    ],
}


@pytest.mark.slow
@pytest.mark.parametrize("change", list(CHANGES))
def test_a_kill_at_any_step_of_a_change_leaves_the_earlier_run_as_it_was(
    config, tmp_path, reference, change
):
    base = tmp_path / "base"
    assert forked_mlp(["train", "--config", config, "--out", base]) == (0, None)
    before = files(base)
    extend = [config if a == "CONFIG" else a for a in CHANGES[change]]
    for step in range(1, 200):
        run = tmp_path / f"extended-{step}"
        os.system(f"cp -r {base} {run}")
        code, _ = forked_mlp([run if a == "RUN" else a for a in extend], kill_at_step=step)
        if code == 0:
            assert weights(run) == reference[5]
            break
        assert assert_complete_or_resumable(run) == "completed"
        state = inspect_run(run)  # read as mlp reads it: a committed change counts as done
        if state.summary["epochs"] == 3:  # not committed: the earlier run, byte for byte
            assert files(run) == before, f"killed at step {step}"
            again = [a if a != "RUN" else run for a in extend]
            if state.pending:  # the staged change exists: resume it
                again = ["train", "--resume", run]
            assert forked_mlp(again) == (0, None), f"killed at step {step}"
        assert weights_as_read(run) == reference[5]
    assert step > 10


EARLY = (
    "seed: 6\n"
    "data: {dataset: iris, test_size: 0.2, val_size: 0.1}\n"
    "model: {hidden: [5]}\n"
    "train:\n"
    "  epochs: 30\n"
    "  batch_size: 64\n"
    "  optimizer: {name: adam, lr: 0.05}\n"
    "  early_stopping: {monitor: val_accuracy, patience: 1, restore_best: RESTORE}\n"
)  # stops after epoch 3: its best is epoch 2, then an epoch without a better val accuracy


@pytest.mark.slow
@pytest.mark.parametrize("restore_best", ["false", "true"])
def test_a_kill_at_any_step_of_an_early_stopped_run_resumes_to_the_same_run(
    tmp_path, monkeypatch, restore_best
):
    monkeypatch.setattr("cli.session.AUTOSAVE_SECONDS", 0.0)  # save the state at every epoch
    config = tmp_path / "early.yaml"
    config.write_text(EARLY.replace("RESTORE", restore_best))
    straight = tmp_path / "straight"
    assert forked_mlp(["train", "--config", config, "--out", straight]) == (0, None)
    expected = json.loads((straight / "summary.json").read_text())
    assert expected["epochs"] == 3 and expected["best"]["epoch"] == 2  # the case described
    killed_at = []
    for step, run in killed_and_finished(config, tmp_path, 300):
        killed_at.append(step)
        summary = json.loads((run / "summary.json").read_text())
        assert weights(run) == weights(straight), f"killed at step {step}"
        assert (summary["epochs"], summary["best"]) == (3, expected["best"]), step
        assert len((run / "metrics.jsonl").read_text().splitlines()) == 3, step
    # config, data and split, 3 epochs of metrics and saved state, final state, model, summary
    assert len(killed_at) >= 24


@pytest.mark.slow
def test_random_kills_leave_a_resumable_run(config, tmp_path, monkeypatch):
    monkeypatch.setattr("cli.session.AUTOSAVE_SECONDS", 0.0)
    long = ["--set", "train.epochs=40"]
    straight = tmp_path / "straight"
    assert forked_mlp(["train", "--config", config, "--out", straight, *long]) == (0, None)
    draw = random.Random(7)
    for attempt in range(4):
        run = tmp_path / f"random-{attempt}"
        forked_mlp(
            ["train", "--config", config, "--out", run, *long], kill_after=draw.uniform(0, 0.3)
        )
        if not (run / "config.yaml").exists():
            continue  # killed before the run directory was written: nothing to resume
        if assert_complete_or_resumable(run) == "interrupted":
            assert forked_mlp(["train", "--resume", run]) == (0, None)
        assert weights(run) == weights(straight)


@pytest.mark.slow
def test_a_second_writer_is_refused_naming_the_holder(config, tmp_path):
    config.write_text(CONFIG.replace("epochs: 3", "epochs: 100000"))
    run = tmp_path / "busy"
    mlp = [sys.executable, "-m", "cli", "train"]
    first = subprocess.Popen(
        [*mlp, "--config", str(config), "--out", str(run)],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (run / "metrics.jsonl").is_file():
            time.sleep(0.02)
        for extra in (
            ["--config", str(config), "--out", str(run), "--overwrite"],
            ["--resume", str(run)],
        ):
            second = subprocess.run([*mlp, *extra], capture_output=True, text=True, timeout=60)
            assert second.returncode == 2
            assert f"busy: process {first.pid} is writing this run" in second.stderr
            assert len(second.stderr.strip().splitlines()) == 1
        assert inspect_run(run).status == "running"
    finally:
        first.send_signal(signal.SIGTERM)
        _, stderr = first.communicate(timeout=30)
    assert first.returncode == 143, stderr
    assert inspect_run(run).status == "interrupted"


def test_a_short_write_of_the_metrics_is_cut_back_and_the_run_resumes(
    mlp_cli, config, tmp_path, monkeypatch
):
    straight = tmp_path / "straight"
    assert mlp_cli("train", "--config", config, "--out", straight, "-q").exit_code == 0
    run = tmp_path / "run"
    real_write, full = os.write, []

    def disk_fills_up(fd, data):
        if full:
            raise OSError(28, "No space left on device")
        if bytes(data).startswith(b'{"epoch": 3'):
            full.append(True)
            return real_write(fd, data[: len(data) // 2])  # half of it, then no more room
        return real_write(fd, data)

    monkeypatch.setattr(cli.rundir.os, "write", disk_fills_up)
    result = mlp_cli("train", "--config", config, "--out", run)
    monkeypatch.undo()
    assert result.exit_code == 1
    assert "metrics.jsonl: No space left on device" in result.stderr
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2]  # no half record left
    assert mlp_cli("train", "--resume", run, "-q").exit_code == 0
    assert weights(run) == weights(straight)


def _damage(run, name):
    path = run / name
    if name.endswith(".npz"):
        path.write_bytes(path.read_bytes()[:100])
    elif name == "metrics.jsonl":
        lines = path.read_text().splitlines()
        path.write_text("\n".join([lines[0], "{not json", *lines[2:]]) + "\n")
    else:
        path.write_text("{\x00 damaged: [")


@pytest.mark.parametrize(
    "name", ["summary.json", "metrics.jsonl", "config.yaml", "model.npz", "split.npz", "data.json"]
)
def test_a_damaged_file_is_one_line_and_the_other_runs_are_still_listed(
    mlp_cli, config, tmp_path, name
):
    runs = tmp_path / "runs"
    for which in ("good", "bad"):
        assert mlp_cli("train", "--config", config, "--out", runs / which, "-q").exit_code == 0
    _damage(runs / "bad", name)
    listing = mlp_cli("runs", runs, "--json")
    assert listing.exit_code == 0
    rows = {row["name"]: row for row in json.loads(listing.stdout)["runs"]}
    assert rows["good"]["status"] == "completed"
    assert rows["bad"]["status"] == "damaged"
    assert name in rows["bad"]["problem"]
    for command in (["eval", runs / "bad"], ["curves", runs / "bad"]):
        result = mlp_cli(*command)
        if result.exit_code == 0:  # eval needs no metrics, curves only the metrics
            assert (command[0] == "eval") == (name == "metrics.jsonl"), command
            continue
        assert result.exit_code == 2, (command, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
        assert name in result.stderr


def test_a_damaged_resume_file_refuses_resume_in_one_line(mlp_cli, config, tmp_path):
    run = tmp_path / "run"
    assert mlp_cli("train", "--config", config, "--out", run, "-q").exit_code == 0
    (run / "summary.json").unlink()  # an unfinished run: --resume would read resume.npz
    _damage(run, "resume.npz")
    assert inspect_run(run).status == "damaged"
    result = mlp_cli("train", "--resume", run)
    assert result.exit_code == 2 and "resume.npz" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_an_interrupted_overwrite_leaves_the_earlier_run_and_resumes(
    mlp_cli, config, tmp_path, monkeypatch
):
    run = tmp_path / "run"
    assert mlp_cli("train", "--config", config, "--out", run, "-q").exit_code == 0
    before = files(run)
    other = ["--set", "seed=9", "--set", "train.epochs=4"]
    straight = tmp_path / "straight"
    mlp_cli("train", "--config", config, "--out", straight, *other, "-q")

    from mlp import Trainer

    real = Trainer.run

    def stop_in_epoch_2(self, epochs):
        for report in real(self, epochs):
            yield report
            if report.epoch == 2:
                os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(Trainer, "run", stop_in_epoch_2)
    result = mlp_cli("train", "--config", config, "--out", run, "--overwrite", *other)
    monkeypatch.undo()
    assert result.exit_code == 130
    assert files(run) == before  # model, summary, metrics and config as they were
    state = inspect_run(run)
    assert state.status == "completed" and "--resume" in state.pending
    assert mlp_cli("train", "--resume", run, "-q").exit_code == 0
    assert weights(run) == weights(straight)
    assert json.loads((run / "summary.json").read_text())["epochs"] == 4
    assert not (run / ".staged").exists()


def test_run_files_respect_the_umask(config, tmp_path):
    run = tmp_path / "run"
    old = os.umask(0o027)
    try:
        assert forked_mlp(["train", "--config", config, "--out", run]) == (0, None)
    finally:
        os.umask(old)
    modes = {p.name: p.stat().st_mode & 0o777 for p in run.iterdir()}
    assert set(modes.values()) == {0o640}, modes


def _forked_import(run, exported, kill_at_step, retried=False):
    """import_run in a forked child that SIGKILLs itself at protocol step `kill_at_step`."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            cli.rundir._KILL_AT_STEP, cli.rundir._steps_taken = kill_at_step, 0
            cli.rundir.import_run(run, exported)
            code = 0
        finally:
            os._exit(code)
    status = _wait(pid)
    if status is None:  # deadlocked at the fork (see forked_mlp): once more, afresh
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        assert not retried, "a forked import hung twice"
        return _forked_import(run, exported, kill_at_step, retried=True)
    return os.WIFSIGNALED(status)


@pytest.mark.slow
def test_an_import_killed_at_any_step_is_never_a_complete_run_until_it_is_done(
    mlp_cli, config, tmp_path
):
    source = tmp_path / "trained"
    assert mlp_cli("train", "--config", config, "--out", source, "-q").exit_code == 0
    exported = cli.rundir.export_run(source)
    assert set(exported) == set(cli.rundir.RUN_FILES)
    run = tmp_path / "imported"
    step = 0
    while True:  # each time the import is killed one step later, over what the last one left
        step += 1
        killed = _forked_import(run, exported, step)
        status = assert_complete_or_resumable(run) if (run / "config.yaml").exists() else None
        if not killed:
            break
        assert status != "completed" or step > 2 * (len(exported) - 1)  # summary.json is last
    assert step > 2 * len(exported) and status == "completed"
    assert weights(run) == weights(source)
    for name in set(exported) - {"summary.json"}:
        assert (run / name).read_bytes() == exported[name], name
    summary = json.loads((run / "summary.json").read_text())
    assert summary["run"] == str(run.absolute())
    # the same summary, naming its new place, sealed again (its checksum covers `run`)
    assert cli.rundir.seal_summary(summary) == summary
    unsealed = {"run": None, "checksum": None}
    assert {**summary, **unsealed} == {**json.loads(exported["summary.json"]), **unsealed}
    result = mlp_cli("eval", run, "--json")
    assert result.exit_code == 0, result.stderr


def test_an_import_refuses_files_that_are_not_a_runs(tmp_path):
    with pytest.raises(cli.rundir.RunError, match="cannot import a run of files"):
        cli.rundir.import_run(tmp_path / "run", {"config.yaml": b"", "../x": b""})
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(cli.rundir.RunError, match=r"notes\.txt"):
        cli.rundir.import_run(tmp_path / "mine", {"config.yaml": b"seed: 1\n"})
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"
