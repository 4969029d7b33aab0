"""Refusing a network too big for this machine before allocating it, in one line.

`--set model.hidden=[100000000]` would otherwise end minutes later in a MemoryError traceback,
or in the kernel's OOM killer. The estimate counts the arrays a training run keeps at once:

- the parameters, their gradient, and one copy of them (the last finite weights, kept to
  report divergence; early stopping's best weights add another);
- the optimizer's state and the temporaries of its step, as many parameter-sized vectors as
  the optimizer declares (`Optimizer.memory_vectors`);
- one batch's forward and backward pass (the input batch, every layer's z, the softmax, the
  hidden deltas and slopes);
- the float64 draw of the largest weight matrix at initialisation.

It leaves out the data set, Python itself and the forward passes of evaluation (chunks of up
to 8192 rows), so it is a floor: a run it refuses certainly does not fit.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from cli.config import Config, ConfigError
from mlp.optimizers import optimizer_class

GIB = 1 << 30
MEMINFO = Path("/proc/meminfo")


def optimizer_vectors(config: Config) -> int:
    """How many parameter-sized vectors the configured optimizer keeps, as it declares."""
    settings = config.train.optimizer
    return optimizer_class(settings.name).memory_vectors(dataclasses.asdict(settings))


def run_bytes(
    sizes: Sequence[int],
    dtype: str,
    *,
    batch_size: int,
    optimizer: int,
    copies: int,
) -> int:
    """Bytes the arrays of a run need: the parameters, their gradient, `optimizer` and `copies`
    more parameter-sized vectors, and a batch's forward and backward pass.
    """
    itemsize = np.dtype(dtype).itemsize
    n_params = sum(fan_in * fan_out + fan_out for fan_in, fan_out in itertools.pairwise(sizes))
    hidden = sum(sizes[1:-1])
    # per row of a batch: X_batch (d), z of every layer, the softmax (K), deltas and slopes
    batch_row = sizes[0] + sum(sizes[1:]) + sizes[-1] + 2 * hidden
    floats = (2 + optimizer + copies) * n_params + batch_size * batch_row
    largest_draw = max(fan_in * fan_out for fan_in, fan_out in itertools.pairwise(sizes))
    return floats * itemsize + largest_draw * 8  # the initial draw is float64 whatever the dtype


def available_memory() -> int | None:
    """Bytes the kernel says can be allocated without swapping (MemAvailable), or None."""
    try:
        for line in MEMINFO.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024  # the value is in kB
    except (OSError, ValueError, IndexError):
        pass
    try:  # no /proc (macOS): free physical pages, a smaller figure than MemAvailable
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return None


def check_fits_in_memory(config: Config, sizes: Sequence[int], n_samples: int) -> None:
    """Raise a one-line ConfigError on `model.hidden` if the run cannot fit in free memory."""
    available = available_memory()
    if available is None:
        return
    copies = 1 + (config.train.early_stopping is not None)
    needed = run_bytes(
        sizes,
        config.model.dtype,
        batch_size=min(config.train.batch_size, n_samples),
        optimizer=optimizer_vectors(config),
        copies=copies,
    )
    if needed > available:
        network = " -> ".join(map(str, sizes))
        detail = (
            f"a {network} network needs about {needed / GIB:.1f} GiB; "
            f"{available / GIB:.1f} GiB is available"
        )
        raise ConfigError(f"model.hidden: {detail}", key="model.hidden", detail=detail)
