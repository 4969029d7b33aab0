"""The environment variables mlp reads, each read where it is used and checked there.

A malformed value is one line naming the variable (exit 2), never a traceback, and nothing
reads them at import: `mlp --help` works whatever they hold.

    MLP_AUTOSAVE_SECONDS   seconds between saves of a training run's state (default 60)
    MLP_CACHE_DIR          where bundled datasets are cached (data/cache.py)
    MLP_TEST_KILL_AT_STEP  the test suite's fault injection (cli/rundir.py)
"""

from __future__ import annotations

import math
import os


class EnvironmentSettingError(ValueError):
    """An environment variable whose value cannot be used; str(err) is one line naming it."""


def number(name: str, default: float, minimum: float = 0.0) -> float:
    """The variable as a finite number >= `minimum`, or `default` when unset or empty."""
    return _read(name, default, float, minimum, f"a number >= {minimum:g}")


def integer(name: str, default: int, minimum: int = 0) -> int:
    """The variable as an integer >= `minimum`, or `default` when unset or empty."""
    return _read(name, default, int, minimum, f"an integer >= {minimum}")


def _read(name: str, default, kind: type, minimum, allowed: str):
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or not math.isfinite(value) or value < minimum:
        raise EnvironmentSettingError(f"environment variable {name}={text!r}: must be {allowed}")
    return value
