"""An on-disk cache of the bundled datasets, so that repeated runs need not import scikit-learn.

Importing scikit-learn costs about 0.6 s on our 2-core machines: half the wall time of a whole
`mlp train` on digits, and three times its training. The bundled datasets are therefore kept as
plain `.npz` files, keyed by a hash of the dataset's name and scikit-learn's version (a new
version may ship different data). Splitting and standardising are NumPy and need no cache.

The cache lives in $MLP_CACHE_DIR, else $XDG_CACHE_HOME/mlp-trainer, else ~/.cache/mlp-trainer;
MLP_CACHE_DIR=off turns it off. It is only ever an optimisation: an unreadable, damaged or
unwritable cache is ignored and the result computed afresh.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
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


def fingerprint(**params: object) -> str:
    """A hash of parameters and scikit-learn's version."""
    digest = hashlib.sha256()
    try:
        version = metadata.version("scikit-learn")
    except metadata.PackageNotFoundError:
        version = "?"
    digest.update(repr(sorted(params.items())).encode() + version.encode())
    return digest.hexdigest()[:32]


def cached(
    kind: str,
    key: str,
    names: tuple[str, ...],
    compute: Callable[[], Arrays],
    valid: Callable[[Arrays], bool],
) -> Arrays:
    """compute(), or the arrays it returned last time for the same `kind` and `key`.

    A cached file that cannot be read whole, lacks any of the array `names` (written by another
    version, say) or fails `valid` (damaged) is a miss like any other: recomputed and replaced.
    """
    folder = cache_dir()
    if folder is None:
        return compute()
    path = folder / f"{kind}-{key}.npz"
    arrays = _read(path, names)
    if arrays is not None and valid(arrays):
        return arrays
    arrays = compute()
    with contextlib.suppress(OSError):
        _store(path, arrays)
    return arrays


def _read(path: Path, names: tuple[str, ...]) -> Arrays | None:
    """The arrays `names` of the `.npz` file at `path`, or None if it cannot give them all."""
    try:
        with open(path, "rb") as file, np.load(file, allow_pickle=False) as npz:
            if not set(names) <= set(npz.files):
                return None
            return {name: npz[name] for name in names}
    except Exception:
        # A missing or damaged file is a miss. zipfile and NumPy's header parser report damage
        # in a dozen ways (BadZipFile, EOFError, ValueError, tokenize.TokenError, ...); none
        # of them means more than that, and the cache is only ever an optimisation.
        return None


def _store(path: Path, arrays: Arrays) -> None:
    """Write atomically, so that a concurrent reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # Mode 0666 less the umask, as any file the user creates (mkstemp would make it 0600).
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as file:
            np.savez(file, **arrays)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
