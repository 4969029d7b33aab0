"""Streams and special files, through real processes: closed and failing stdout and stderr,
--json's one object, stdout as `mlp predict`'s product, outputs onto FIFOs and devices, and a
SIGTERM before training starts."""

import dataclasses
import json
import os
import shlex
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from cli.rundir import inspect_run

MLP = [sys.executable, "-m", "cli"]
pytestmark = pytest.mark.slow


@dataclasses.dataclass(frozen=True)
class Trained:
    config: Path
    run: Path
    rows: Path
    predictions: str  # what `mlp predict RUN ROWS` prints


def shell(command: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run `command` in bash (for redirections such as `>&-`), capturing what is left open."""
    return subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=timeout)


def mlp(*args) -> str:
    """`mlp ARGS` as a shell command line."""
    return shlex.join([*MLP, *map(str, args)])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished iris run (one epoch), a CSV of iris rows, and its predictions on stdout."""
    folder = tmp_path_factory.mktemp("streams")
    config = folder / "iris.yaml"
    config.write_text(
        "seed: 3\ndata: {dataset: iris, test_size: 0.2, val_size: 0.1}\n"
        "model: {hidden: [4]}\ntrain: {epochs: 1, batch_size: 16}\n"
    )
    run = folder / "run"
    done = subprocess.run(
        [*MLP, "train", "-c", config, "--out", run, "-q", "--threads", "1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    rows = folder / "rows.csv"
    rows.write_text(
        "sepal length (cm),sepal width (cm),petal length (cm),petal width (cm)\n"
        + "5.1,3.5,1.4,0.2\n6.3,3.3,6.0,2.5\n" * 200
    )
    predicted = subprocess.run([*MLP, "predict", run, rows], capture_output=True, text=True)
    assert predicted.returncode == 0 and predicted.stdout.count("\n") == 401, predicted.stderr
    return Trained(config, run, rows, predicted.stdout)


# -- closed and failing streams -------------------------------------------------------------


def test_train_with_stdout_or_stderr_closed_finishes_the_run(trained, tmp_path):
    config = trained.config
    for redirect, run in ((">&-", tmp_path / "no-stdout"), ("2>&-", tmp_path / "no-stderr")):
        done = shell(f"{mlp('train', '-c', config, '--out', run, '--threads', '1')} {redirect}")
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr and "isatty" not in done.stderr
        assert inspect_run(run).status == "completed"


@pytest.mark.parametrize("stderr", ["2>/dev/full", "2>&-"])
def test_json_prints_one_object_whatever_happens_to_stderr(trained, tmp_path, stderr):
    failed = shell(f"{mlp('runs', tmp_path / 'nowhere', '--json')} {stderr}")
    assert failed.returncode == 2
    assert json.loads(failed.stdout) == {
        "error": f"{tmp_path / 'nowhere'}: no such folder of runs",
        "exit_code": 2,
    }
    listed = shell(f"{mlp('runs', trained.run.parent, '--json')} {stderr}")
    assert listed.returncode == 0
    assert [run["name"] for run in json.loads(listed.stdout)["runs"]] == ["run"]


# -- stdout as the product of `mlp predict` ---------------------------------------------------


def test_predict_to_a_full_disk_is_an_error_naming_stdout(trained):
    run, rows = trained.run, trained.rows
    done = shell(f"{mlp('predict', run, rows)} >/dev/full")
    assert done.returncode == 1
    assert done.stderr == "error: stdout: No space left on device\n"


def test_predict_past_a_file_size_limit_is_an_error_not_a_short_file(trained, tmp_path):
    run, rows = trained.run, trained.rows
    target = tmp_path / "predictions.csv"
    # 1 KiB (ulimit counts 1024-byte blocks); the predictions are about 4 KiB
    done = shell(f"ulimit -f 1; {mlp('predict', run, rows)} >{target}")
    assert done.returncode == 1
    assert done.stderr == "error: stdout: File too large\n"
    assert target.stat().st_size == 1024  # what the limit let through; the exit code says so


def test_predict_with_stdout_closed_is_an_error(trained):
    run, rows = trained.run, trained.rows
    done = shell(f"{mlp('predict', run, rows)} >&-")
    assert done.returncode == 1
    assert done.stderr.startswith("error: stdout: ") and done.stderr.count("\n") == 1


def test_predict_into_a_pipe_closed_early_stops_quietly(trained):
    run, rows = trained.run, trained.rows
    done = shell(f"{mlp('predict', run, rows)} | head -1; echo ${{PIPESTATUS[0]}}")
    assert done.stdout.splitlines() == ["prediction", "0"]
    assert done.stderr == ""


# -- outputs onto special files -----------------------------------------------------------------


def test_predict_out_a_fifo_writes_through_it_and_keeps_the_fifo(trained, tmp_path):
    run, rows = trained.run, trained.rows
    fifo = tmp_path / "predictions.fifo"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text()), daemon=True)
    reader.start()
    done = subprocess.run(
        [*MLP, "predict", run, rows, "--out", fifo], capture_output=True, text=True, timeout=60
    )
    reader.join(timeout=30)
    assert done.returncode == 0, done.stderr
    assert received == [trained.predictions]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert sorted(os.listdir(tmp_path)) == ["predictions.fifo"]  # no temporary file left


def test_predict_out_dev_null_and_dev_stdout(trained):
    run, rows = trained.run, trained.rows
    null = os.stat("/dev/null")
    done = subprocess.run(
        [*MLP, "predict", run, rows, "--out", "/dev/null"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == null.st_rdev
    through = subprocess.run(
        [*MLP, "predict", run, rows, "--out", "/dev/stdout"], capture_output=True, text=True
    )
    assert through.returncode == 0, through.stderr
    assert through.stdout == trained.predictions
    assert os.path.islink("/dev/stdout")


def test_predict_out_a_link_writes_its_target_and_keeps_the_link(trained, tmp_path):
    run, rows = trained.run, trained.rows
    target, link = tmp_path / "target.csv", tmp_path / "link.csv"
    target.write_text("old\n")
    link.symlink_to(target)
    done = subprocess.run([*MLP, "predict", run, rows, "--out", link], capture_output=True)
    assert done.returncode == 0, done.stderr
    assert link.is_symlink() and target.read_text() == trained.predictions


def test_export_onto_a_fifo_writes_through_it(trained, tmp_path):
    pytest.importorskip("onnx")
    run = trained.run
    fifo = tmp_path / "model.onnx"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    done = subprocess.run([*MLP, "export", run, fifo, "--json"], capture_output=True, timeout=60)
    reader.join(timeout=30)
    assert done.returncode == 0, done.stderr
    assert len(received[0]) == json.loads(done.stdout)["bytes"] > 0
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_export_to_dev_stdout_keeps_its_report_off_the_graph(trained):
    onnx = pytest.importorskip("onnx")
    done = subprocess.run([*MLP, "export", trained.run, "/dev/stdout"], capture_output=True)
    assert done.returncode == 0, done.stderr
    graph = onnx.load_from_string(done.stdout)  # every byte on stdout is the graph
    assert graph.graph.input[0].name == "input"
    assert done.stderr.startswith(b"wrote /dev/stdout (" + f"{len(done.stdout):,}".encode())


def test_an_export_that_cannot_be_written_names_the_path_once(trained, tmp_path):
    pytest.importorskip("onnx")
    run = trained.run
    out = tmp_path / "model.onnx"
    out.symlink_to(tmp_path / "no-such-folder" / "model.onnx")  # written through, and fails
    done = subprocess.run([*MLP, "export", run, out], capture_output=True, text=True)
    assert done.returncode == 1
    assert done.stderr == f"error: could not write the graph: {out}: No such file or directory\n"


# -- SIGTERM before training --------------------------------------------------------------------


def catches(pid: int, signum: int) -> bool:
    """Whether process `pid` has a handler installed for `signum` (its SigCgt mask)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("SigCgt:"):
                return bool(int(line.split()[1], 16) >> (signum - 1) & 1)
    return False


@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_sigterm_during_start_up_prints_the_interrupted_line(trained, tmp_path, json_flag):
    process = subprocess.Popen(
        [*MLP, "train", "-c", trained.config, "--out", tmp_path / "run", *json_flag],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 10
    while not catches(process.pid, signal.SIGTERM) and time.monotonic() < deadline:
        time.sleep(0.001)
    process.send_signal(signal.SIGTERM)  # about half a second before the imports are done
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 143
    assert stderr == "interrupted (SIGTERM)\n"
    if json_flag:
        assert json.loads(stdout) == {"error": "interrupted (SIGTERM)", "exit_code": 143}
    else:
        assert stdout == ""
