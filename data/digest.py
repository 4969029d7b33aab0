"""What a run records of its data: a SHA-256 of the file's bytes or of the bundled arrays.

A record is a small JSON-able dict, so a run can store it and a later `mlp eval` can check
that the data it reads is the data the model was trained on:

    {"kind": "csv", "path": "/abs/path.csv", "size": 1234, "sha256": "<hex>"}
    {"kind": "bundled", "name": "digits", "sha256": "<hex>"}
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from data.errors import DataError

_CHUNK = 1 << 20  # read 1 MiB at a time: constant memory whatever the file's size


def file_record(path: str | os.PathLike[str]) -> dict:
    """The record of a CSV file as it is now, streamed in chunks and not parsed.

    Equal to the record `load_csv` gave the dataset if and only if the file still holds the
    same bytes (up to SHA-256 collisions).
    """
    name = str(path)
    digest = hashlib.sha256()
    size = 0
    try:
        with open(name, "rb") as file:
            while chunk := file.read(_CHUNK):
                digest.update(chunk)
                size += len(chunk)
    except FileNotFoundError:
        raise DataError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{name}: is a directory, not a CSV file") from None
    except OSError as err:
        raise DataError(f"{name}: cannot be read ({err.strerror})") from None
    return {
        "kind": "csv",
        "path": str(Path(name).absolute()),
        "size": size,
        "sha256": digest.hexdigest(),
    }


def arrays_sha256(*arrays: np.ndarray) -> str:
    """A SHA-256 of arrays' dtypes, shapes and values, the same on every machine.

    Each array is hashed in little-endian byte order, after a header naming its dtype and
    shape, so arrays holding the same bytes under another dtype or shape hash differently.
    """
    digest = hashlib.sha256()
    for array in arrays:
        array = np.asarray(array)
        array = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
        digest.update(f"{array.dtype.str}{array.shape};".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()
