"""Hostile checkpoint files cost little: real `mlp predict` and `mlp train --resume` processes
under a 1 GiB address-space cap refuse each one with exit 2 and one line naming the file and
member, never a traceback.

The files are built here with zipfile and numpy; nothing binary is committed.
"""

import io
import os
import resource
import shutil
import struct
import subprocess
import sys
import zipfile
import zlib

import numpy as np
import pytest

MEMORY_CAP = 1 << 30  # RLIMIT_AS for the command: the old loader needed 1.7 GB for the bomb
BOMB_BLOCKS = 96  # 96 x 16 MiB of zeros: a 1.5 GiB array in about 1.6 MB on disk
ZEROS = 1 << 24

GOOD = "seed: 0\ndata: {dataset: iris}\nmodel: {hidden: [4]}\ntrain: {epochs: 2, batch_size: 16}\n"


def npy_header(shape, descr="<f8"):
    """The bytes numpy writes before an array's data, for any shape we care to declare."""
    buffer = io.BytesIO()
    header = {"descr": descr, "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue()


def write_members(path, members):
    """An .npz (a zip) holding the given raw member bytes, stored as they are."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def zip_bomb(path):
    """One member, W1.npy: a valid header and 1.5 GiB of zeros, deflated to about 1.6 MB.

    Deflating 1.5 GiB takes seconds, so one 16 MiB block is deflated after a full flush
    (which makes it independent of what came before) and repeated; the CRC is the real one.
    """
    header = npy_header((BOMB_BLOCKS * ZEROS // 8,))
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = deflate.compress(header) + deflate.flush(zlib.Z_FULL_FLUSH)
    block = deflate.compress(bytes(ZEROS)) + deflate.flush(zlib.Z_FULL_FLUSH)
    stream = head + block * BOMB_BLOCKS + deflate.flush()
    crc = zlib.crc32(header)
    zeros = bytes(ZEROS)
    for _ in range(BOMB_BLOCKS):
        crc = zlib.crc32(zeros, crc)
    name, size = b"W1.npy", len(header) + BOMB_BLOCKS * ZEROS
    # PKZIP local header, data, central directory entry and end record (method 8: deflate).
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, crc, len(stream), size, 6, 0)
    central = struct.pack(
        "<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0x21, crc, len(stream), size, 6, 0,
        0, 0, 0, 0, 0,
    )  # fmt: skip
    directory_at = len(local) + len(name) + len(stream)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central) + 6, directory_at, 0)
    path.write_bytes(local + name + stream + central + name + end)


def real_arrays(path):
    with np.load(path) as npz:
        return {name: npz[name] for name in npz.files}


def model_46_tib(path):
    """model.npz whose W1 header declares a (2**23, 46 * 2**14) float64 array: 46 TiB."""
    members = {f"{name}.npy": npy_bytes(array) for name, array in real_arrays(path).items()}
    members["W1.npy"] = npy_header((1 << 23, 46 << 14)) + bytes(64)
    write_members(path, members)


def model_not_npy(path):
    members = {f"{name}.npy": npy_bytes(array) for name, array in real_arrays(path).items()}
    members["W1.npy"] = b"W1 = [[0.1, 0.2], [0.3, 0.4]]  # not numpy's format\n"
    write_members(path, members)


def model_pickled(path):
    arrays = real_arrays(path)
    arrays["classes"] = np.array([{"a": 1}, None, 3], dtype=object)
    with open(path, "wb") as file:
        np.savez(file, **arrays)  # numpy pickles object arrays when writing


def npy_bytes(array):
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def resume_46_tib(path):
    """resume.npz whose params header declares 46 TiB of float64."""
    members = {f"{name}.npy": npy_bytes(array) for name, array in real_arrays(path).items()}
    members["params.npy"] = npy_header((46 << 37,)) + bytes(64)
    write_members(path, members)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    from typer.testing import CliRunner

    from cli.app import app

    root = tmp_path_factory.mktemp("hostile")
    (root / "good.yaml").write_text(GOOD)
    result = CliRunner().invoke(
        app, ["train", "--config", str(root / "good.yaml"), "--out", str(root / "run"), "-q"]
    )
    assert result.exit_code == 0, result.output
    return root / "run"


def start_capped_mlp(*args):
    """Start `mlp ARGS` as a real process that cannot map more than MEMORY_CAP bytes."""

    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))

    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "COLUMNS": "120"}
    return subprocess.Popen(
        [sys.executable, "-m", "cli", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=cap,
    )


# case: (file replaced in the run, how, command, what the error line must name)
CASES = {
    "46 TiB member (predict)": ("model.npz", model_46_tib, "predict", ["W1.npy", str(46 << 40)]),
    "non-npy member (predict)": ("model.npz", model_not_npy, "predict", ["W1.npy", ".npy"]),
    "object member (predict)": ("model.npz", model_pickled, "predict", ["classes.npy", "pickle"]),
    "zip bomb (predict)": ("model.npz", zip_bomb, "predict", ["zip bomb"]),
    "46 TiB params (resume)": ("resume.npz", resume_46_tib, "train", ["params.npy"]),
}


@pytest.fixture(scope="module")
def outcomes(finished_run, tmp_path_factory):
    """Every case's (exit code, stdout, stderr); the processes run side by side to save time."""
    processes = {}
    for case, (file, make, command, _) in CASES.items():
        run = tmp_path_factory.mktemp("case") / "run"
        shutil.copytree(finished_run, run)
        make(run / file)
        if command == "train":  # an interrupted run: its state is not vouched for by a summary
            for name in ("summary.json", "model.npz"):
                (run / name).unlink()
            args = ["train", "--resume", run, "--set", "train.epochs=4"]
        else:  # the model file itself: a run directory would be refused as damaged first,
            # its summary naming another model (tests/test_rundir.py)
            (run.parent / "x.csv").write_text("a,b,c,d\n5.1,3.5,1.4,0.2\n")
            args = ["predict", run / file, run.parent / "x.csv"]
        processes[case] = start_capped_mlp(*args)
    results = {}
    for case, process in processes.items():
        stdout, stderr = process.communicate(timeout=120)
        results[case] = (process.returncode, stdout, stderr)
    return results


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_hostile_checkpoints_are_refused_cheaply_by_real_processes(outcomes, case):
    file, _, _, culprits = CASES[case]
    code, stdout, stderr = outcomes[case]
    assert code == 2, (stdout, stderr)
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr and "MemoryError" not in stderr
    for culprit in (file, *culprits):
        assert culprit in lines[0], lines[0]
