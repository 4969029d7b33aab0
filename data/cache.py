"""An on-disk cache of results that need scikit-learn, so repeated runs need not import it.

Importing scikit-learn costs about 0.6 s on our 2-core machines: half the wall time of a whole
`mlp train` on digits, and three times its training. The bundled datasets, the stratified
splits and the standardisation statistics are therefore kept as plain `.npz` files, keyed by
a hash of their inputs and scikit-learn's version (a new version may split differently).

The cache lives in $MLP_CACHE_DIR, else $XDG_CACHE_HOME/mlp-trainer, else ~/.cache/mlp-trainer;
MLP_CACHE_DIR=off turns it off. It is only ever an optimisation: an unreadable, damaged or
unwritable cache is ignored and the result computed afresh.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import zipfile
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import numpy as np

Arrays = dict[str, np.ndarray]


def cache_dir() -> Path | None:
    """Where cached arrays live, or None when caching is off."""
    chosen = os.environ.get("MLP_CACHE_DIR")
    if chosen is not None:
        return None if chosen.lower() in ("", "off", "0", "false") else Path(chosen)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "mlp-trainer"


def fingerprint(*arrays: np.ndarray, **params: object) -> str:
    """A hash of arrays (values, shapes, dtypes), parameters, and scikit-learn's version."""
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes())
    try:
        version = metadata.version("scikit-learn")
    except metadata.PackageNotFoundError:
        version = "?"
    digest.update(repr(sorted(params.items())).encode() + version.encode())
    return digest.hexdigest()[:32]


def cached(kind: str, key: str, names: tuple[str, ...], compute: Callable[[], Arrays]) -> Arrays:
    """compute(), or the arrays it returned last time for the same `kind` and `key`.

    A cached file that lacks any of the array `names` (written by another version, say) is a
    miss like any other: recomputed and replaced.
    """
    folder = cache_dir()
    if folder is None:
        return compute()
    path = folder / f"{kind}-{key}.npz"
    with (
        contextlib.suppress(OSError, ValueError, TypeError, EOFError, zipfile.BadZipFile),
        open(path, "rb") as file,  # opened here so that it is closed whatever np.load raises
        np.load(file, allow_pickle=False) as npz,
    ):
        if set(names) <= set(npz.files):
            return {name: npz[name] for name in names}
    arrays = compute()
    with contextlib.suppress(OSError):
        _store(path, arrays)
    return arrays


def _store(path: Path, arrays: Arrays) -> None:
    """Write atomically, so that a concurrent reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as file:
            np.savez(file, **arrays)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
