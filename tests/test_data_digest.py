"""What a run records of its data: the SHA-256 of a CSV's bytes, or of a bundled set's arrays."""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from data import DataError, file_record, load_dataset
from data.digest import arrays_sha256

ROOT = Path(__file__).resolve().parent.parent
CSV = b"\xef\xbb\xbfa,b,label\r\n1,2,x\r\n3,4,y\r\n5,6,x\r\n"  # a BOM and CRLF: hashed as is


def test_a_csv_record_is_the_absolute_path_size_and_sha256_of_its_bytes(tmp_path, monkeypatch):
    (tmp_path / "d.csv").write_bytes(CSV)
    monkeypatch.chdir(tmp_path)
    record = load_dataset("d.csv").record
    assert record == {
        "kind": "csv",
        "path": str(tmp_path / "d.csv"),
        "size": len(CSV),
        "sha256": hashlib.sha256(CSV).hexdigest(),
    }
    assert json.loads(json.dumps(record)) == record


def test_file_record_matches_the_loaded_record_until_the_file_changes(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes(CSV)
    loaded = load_dataset(str(path)).record
    assert file_record(path) == loaded
    path.write_bytes(CSV.replace(b"5,6", b"5,7"))  # same size, one byte different
    changed = file_record(path)
    assert changed["size"] == loaded["size"] and changed["sha256"] != loaded["sha256"]


def test_file_record_streams_a_file_larger_than_its_chunks(tmp_path):
    path = tmp_path / "big.csv"
    content = os.urandom(3 * 2**20 + 12345)  # three 1 MiB chunks and a bit: not even CSV
    path.write_bytes(content)
    assert file_record(path)["sha256"] == hashlib.sha256(content).hexdigest()
    assert file_record(path)["size"] == len(content)


def test_file_record_of_a_missing_file_or_a_directory_is_one_line(tmp_path):
    with pytest.raises(DataError, match=r"nope\.csv: no such file$"):
        file_record(tmp_path / "nope.csv")
    with pytest.raises(DataError, match="is a directory"):
        file_record(tmp_path)


@pytest.mark.slow
def test_a_csv_is_read_once_and_its_record_hashes_what_was_parsed(tmp_path):
    # A named pipe gives its content to one reader only: a second read would wait forever.
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    script = (
        "import hashlib, sys, threading\nfrom data import load_dataset\n"
        f"content = {CSV!r}\n"
        "def write():\n"
        f"    with open({str(fifo)!r}, 'wb') as pipe:\n"
        "        pipe.write(content)\n"
        "threading.Thread(target=write, daemon=True).start()\n"
        f"d = load_dataset({str(fifo)!r})\n"
        "print(d.record['sha256'] == hashlib.sha256(content).hexdigest(), "
        "d.table.column('a').values.tolist())\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=30
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True [1.0, 3.0, 5.0]"


def digest_by_hand(*arrays):
    """The documented format, written out: per array its dtype, shape and little-endian bytes."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.asarray(a)
        little = a.astype(a.dtype.newbyteorder("<"))
        h.update(f"{little.dtype.str}{a.shape};".encode() + little.tobytes(order="C"))
    return h.hexdigest()


def test_a_bundled_record_is_the_digest_of_its_arrays():
    iris = load_dataset("iris")
    expected = digest_by_hand(iris.X, iris.y, iris.classes, np.array(iris.feature_names))
    assert iris.record == {"kind": "bundled", "name": "iris", "sha256": expected}


def test_the_array_digest_sees_values_dtype_shape_and_not_byte_order():
    a = np.arange(6, dtype=np.int64)
    base = arrays_sha256(a)
    assert base == digest_by_hand(a)
    changed = a.copy()
    changed[3] = 7
    assert arrays_sha256(changed) != base
    assert arrays_sha256(a.reshape(2, 3)) != base  # the same bytes in another shape
    assert arrays_sha256(a.view(np.float64)) != base  # the same bytes as another dtype
    assert arrays_sha256(a.astype(">i8")) == base  # the same numbers, stored big-endian
    assert arrays_sha256(np.repeat(a, 2)[::2]) == base  # a strided view of the same numbers
