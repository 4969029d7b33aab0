"""Sweeps and cross-validation on a Dask cluster that cannot see the client's files.

A scheduler and two workers run as separate processes on 127.0.0.1 (the scheduler on port 0,
found through its --scheduler-file), each in its own working directory; the workers run in a
private mount namespace with a tmpfs over the client's folder (config, CSV and --out), so a
worker that opened any of the client's files would fail the point.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from cli.remote import check_versions, mlp_version
from cli.usage import UsageError

distributed = pytest.importorskip("dask.distributed")  # installed with the test extra

DASK = str(Path(sys.executable).parent / "dask")
BASE = (
    "seed: 5\n"
    "data: {dataset: table.csv, target: label, test_size: 0.2, val_size: 0.2}\n"
    "model: {hidden: [6]}\n"
    "train: {epochs: 12, batch_size: 16, optimizer: {name: adam, lr: 0.01}}\n"
)
GRID = "train.optimizer.lr: [0.003, 0.03]\nmodel.hidden: [[4], [8]]\n"


def _can_hide_folders() -> str | None:
    """Why the workers cannot be kept from the client's files here, or None when they can."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return "hiding the client's files from the workers needs root and unshare(1)"
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True)
    if probe.returncode != 0:
        return f"unshare -m is not allowed here: {probe.stderr.decode().strip()}"
    return None


def _table(path: Path, n: int = 90) -> None:
    """A CSV whose label follows from a text column and a number (the client's data)."""
    rng = np.random.default_rng(0)
    lines = ["colour,size,label"]
    for i in range(n):
        colour = ["red", "green", "blue"][i % 3]
        size = rng.normal(4.0 if colour == "red" else 1.0, 0.7)
        lines.append(f"{colour},{size:.4f},{'big' if size > 2.5 else 'small'}")
    path.write_text("\n".join(lines) + "\n")


def _start_worker(root: Path, name: str, scheduler_file: Path, hidden: Path):
    """`dask worker` in its own folder, in a mount namespace where `hidden` is an empty tmpfs."""
    folder = root / name
    folder.mkdir()
    hide = 'mount -t tmpfs none "$0" && exec "$@"'
    command = [DASK, "worker", "--scheduler-file", str(scheduler_file), "--nthreads", "1"]
    command += ["--no-dashboard", "--no-nanny", "--local-directory", str(folder)]
    with open(folder / "log", "w") as log:  # the worker keeps its own copy of the handle
        return subprocess.Popen(
            ["unshare", "-m", "sh", "-c", hide, str(hidden), *command],
            cwd=folder,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """(scheduler address, the client's folder, a function starting one more worker; its
    `workers`: the worker processes started)."""
    why = _can_hide_folders()
    if why:
        pytest.skip(why)
    root = tmp_path_factory.mktemp("cluster")
    client_dir = root / "client"
    client_dir.mkdir()
    (root / "scheduler").mkdir()
    scheduler_file = root / "scheduler" / "scheduler.json"
    processes = [
        subprocess.Popen(
            [
                DASK,
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--no-dashboard",
                "--scheduler-file",
                str(scheduler_file),
            ],
            cwd=root / "scheduler",
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    ]

    def start_worker(name: str):
        processes.append(_start_worker(root, name, scheduler_file, client_dir))
        start_worker.workers.append(processes[-1])
        return processes[-1]

    start_worker.workers = []

    try:
        deadline = time.monotonic() + 30
        while not scheduler_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        address = json.loads(scheduler_file.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        start_worker("worker-1")
        start_worker("worker-2")
        with distributed.Client(address, timeout=10) as client:
            client.wait_for_workers(2, timeout=30)
        yield address, client_dir, start_worker
    finally:
        for process in reversed(processes):
            process.kill()
            process.wait()


@pytest.fixture
def client_files(cluster, monkeypatch):
    """The client's folder, fresh for each test, as the working directory."""
    address, client_dir, _ = cluster
    with distributed.Client(address, timeout=10) as client:
        client.wait_for_workers(2, timeout=30)  # one may have been killed by a test
        (client_dir / "base.yaml").write_text(BASE)
        assert not any(client.run(os.path.exists, str(client_dir / "base.yaml")).values())
    for entry in client_dir.iterdir():
        shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    (client_dir / "base.yaml").write_text(BASE)
    (client_dir / "grid.yaml").write_text(GRID)
    _table(client_dir / "table.csv")
    monkeypatch.chdir(client_dir)
    return address


def weights(run_dir):
    with np.load(Path(run_dir) / "model.npz") as npz:
        return {name: npz[name].tobytes() for name in npz.files}


def epochs(run_dir):
    """metrics.jsonl without the wall-clock seconds of each epoch."""
    lines = (Path(run_dir) / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k != "seconds"} for line in lines]


def sweep(mlp_cli, out, *extra):
    result = mlp_cli(
        "sweep", "--config", "base.yaml", "--grid", "grid.yaml", "--out", out, "--json", *extra
    )
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)["points"]


def test_a_sweep_on_workers_without_the_clients_files_equals_the_local_one(mlp_cli, client_files):
    local = sweep(mlp_cli, "local", "--jobs", "1")
    remote = sweep(mlp_cli, "remote", "--backend", "dask", "--scheduler", client_files)
    assert [p["id"] for p in remote] == [p["id"] for p in local]
    for a, b in zip(local, remote):
        assert b["status"] == "completed" and b["run"] == str(Path("remote") / b["id"])
        assert (a["best_val_loss"], a["test_accuracy"]) == (b["best_val_loss"], b["test_accuracy"])
        assert weights(Path("local") / a["id"]) == weights(Path("remote") / b["id"])
        for name in ("split.npz", "config.yaml"):
            same = (Path("local") / a["id"] / name).read_bytes()
            assert same == (Path("remote") / b["id"] / name).read_bytes(), name
        records = [
            json.loads((Path(side) / a["id"] / "data.json").read_text())
            for side in ("local", "remote")
        ]
        for record in records:
            del record["started"]  # each side's own clock
        assert records[0] == records[1]
        assert epochs(Path("local") / a["id"]) == epochs(Path("remote") / b["id"])
        summary = json.loads((Path("remote") / b["id"] / "summary.json").read_text())
        assert summary["run"] == str((Path("remote") / b["id"]).absolute())
    again = sweep(mlp_cli, "remote", "--backend", "dask", "--scheduler", client_files)
    assert all(p["skipped"] for p in again)
    # interrupted while saving (no model yet): its files go to a worker, which finishes it
    cut = Path("remote") / remote[1]["id"]
    history = (cut / "metrics.jsonl").read_bytes()  # its epochs' timings: not trained again
    (cut / "summary.json").unlink()
    (cut / "model.npz").unlink()
    again = sweep(mlp_cli, "remote", "--backend", "dask", "--scheduler", client_files)
    assert [p["skipped"] for p in again if p["id"] == remote[1]["id"]] == [False]
    assert (cut / "metrics.jsonl").read_bytes() == history
    assert weights(cut) == weights(Path("local") / remote[1]["id"])
    result = mlp_cli("eval", Path("remote") / remote[0]["id"], "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["accuracy"] == remote[0]["test_accuracy"]


def test_cross_validation_on_the_cluster_equals_the_local_one(mlp_cli, client_files):
    def cv(out, *extra):
        result = mlp_cli(
            "cv", "--config", "base.yaml", "--folds", "3", "--out", out, "--json", *extra
        )
        assert result.exit_code == 0, result.stderr
        return json.loads(result.stdout)

    local = cv("local", "--jobs", "1")
    remote = cv("remote", "--backend", "dask", "--scheduler", client_files)
    assert (remote["mean"], remote["loss_mean"]) == (local["mean"], local["loss_mean"])
    for number in (1, 2, 3):
        assert weights(f"local/fold-{number}") == weights(f"remote/fold-{number}")


def test_a_cross_validated_sweep_on_the_cluster_equals_the_local_one(mlp_cli, client_files):
    Path("grid.yaml").write_text("model.hidden: [[4], [8]]\n")
    local = sweep(mlp_cli, "local", "--jobs", "1", "--cv", "2")
    remote = sweep(mlp_cli, "remote", "--backend", "dask", "--scheduler", client_files, "--cv", "2")
    assert [(p["id"], p["cv_mean"], p["cv_loss_mean"]) for p in remote] == [
        (p["id"], p["cv_mean"], p["cv_loss_mean"]) for p in local
    ]
    assert all(p["status"] == "completed" for p in remote)
    for point in remote:
        folder = Path("remote") / f"{point['id']}-cv2"
        assert weights(folder / "fold-2") == weights(Path("local") / folder.name / "fold-2")
    again = sweep(mlp_cli, "remote", "--backend", "dask", "--scheduler", client_files, "--cv", "2")
    assert [p["cv_mean"] for p in again] == [p["cv_mean"] for p in remote]


def test_a_worker_killed_mid_point_does_not_sink_the_sweep(mlp_cli, cluster, client_files):
    address, _, start_worker = cluster
    victim = start_worker.workers[-1]
    env = {**os.environ, "COLUMNS": "120"}
    command = [sys.executable, "-m", "cli", "sweep", "--config", "base.yaml", "--grid"]
    command += ["grid.yaml", "--set", "train.epochs=250", "--out", "killed", "--json"]
    command += ["--backend", "dask", "--scheduler", address]
    with distributed.Client(address, timeout=10) as watcher:
        pids = watcher.run(os.getpid)
        [victim_address] = [a for a, pid in pids.items() if pid == victim.pid]
        sweep_process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while not watcher.call_stack().get(victim_address):  # training a point now
            assert time.monotonic() < deadline, "the victim never got a point"
            time.sleep(0.02)
        os.kill(victim.pid, signal.SIGKILL)
        stdout, _ = sweep_process.communicate(timeout=120)
    start_worker(f"worker-after-{victim.pid}")  # for the tests that follow
    assert sweep_process.returncode == 0
    points = json.loads(stdout)["points"]
    assert len(points) == 4 and all(p["status"] == "completed" for p in points)
    for point in points:
        assert json.loads((Path(point["run"]) / "summary.json").read_text())["epochs"] == 250


def test_workers_of_another_version_are_refused_with_one_line():
    mine = mlp_version()
    check_versions("tcp://h:1", {"tcp://10.0.0.1:4000": mine})  # the same version: accepted
    with pytest.raises(UsageError) as caught:
        check_versions("tcp://h:1", {"tcp://10.0.0.2:4000": "0.0.0-other", "tcp://b:1": mine})
    message = str(caught.value)
    assert "worker tcp://10.0.0.2:4000 runs mlp-trainer 0.0.0-other" in message
    assert f"1 of 2 workers differ); install mlp-trainer=={mine} on every" in message
    assert "\n" not in message
