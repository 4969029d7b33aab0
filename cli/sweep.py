"""`mlp sweep`: ordinary runs over a grid (or a random sample) of config values, in parallel.

A grid file maps dotted config keys to the values to try:

    train.optimizer.lr: [0.01, 0.1]        # a full grid: every combination (here 2 x 2)
    model.hidden: [[64], [128]]

or, with `samples: N`, to what to draw N points from, with the base config's seed:

    samples: 8
    train.optimizer.lr: {low: 0.001, high: 0.3, log: true}   # log-uniform
    train.batch_size: {low: 16, high: 64}                      # integers: uniform, inclusive
    model.hidden: [[64], [128]]                                # a list: one of its values

Each point is an ordinary run under DIR/<point-id>/ (so `mlp eval` works on it). The point's id
comes from its place in the grid and a hash of its values, so re-running the same sweep finds
its points again: finished ones are skipped, interrupted ones resumed, failed ones redone.
Points run in parallel with joblib, each worker held to one BLAS thread so that workers do not
fight over cores and every point computes the same numbers whatever the number of jobs.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cli.config import Config, ConfigError, dump_config, load_config, read_yaml
from cli.rundir import (
    METRICS_FILE,
    RESUME_FILE,
    SUMMARY_FILE,
    RunError,
    best_validation,
    read_metrics,
    write_text,
)
from cli.session import Interrupted, resume_session, start_session

SWEEP_RESULTS = "results.jsonl"
BEST_CONFIG = "best.yaml"


@dataclass(frozen=True)
class Point:
    """One combination of overridden values."""

    id: str
    values: dict[str, Any]  # dotted key -> value

    @property
    def overrides(self) -> list[str]:
        """The values as `--set` strings (JSON is valid YAML, so they parse back exactly)."""
        return [f"{key}={json.dumps(value)}" for key, value in self.values.items()]


def _point(index: int, values: dict[str, Any]) -> Point:
    digest = hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:8]
    return Point(f"{index:03d}-{digest}", values)


def _draw(where: str, key: str, spec: Any, rng: np.random.Generator) -> Any:
    """One random value for `key`: a choice from a list, or a number from {low, high, log}."""
    if isinstance(spec, list) and spec:
        return spec[int(rng.integers(len(spec)))]
    if (
        not isinstance(spec, dict)
        or set(spec) - {"low", "high", "log"}
        or not {
            "low",
            "high",
        }
        <= set(spec)
    ):
        raise ConfigError(f"{where}: {key}: must be a list of choices or {{low, high, log}}")
    low, high, log = spec["low"], spec["high"], spec.get("log", False)
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (low, high))
    if not numbers or not low <= high or not isinstance(log, bool) or (log and low <= 0):
        raise ConfigError(
            f"{where}: {key}: needs numbers low <= high (and low > 0 with log), got {spec}"
        )
    if log:
        return float(math.exp(rng.uniform(math.log(low), math.log(high))))
    if isinstance(low, int) and isinstance(high, int):
        return int(rng.integers(low, high + 1))
    return float(rng.uniform(low, high))


def load_grid(path: Path, seed: int) -> list[Point]:
    """The points of a grid file (a full grid, or `samples` random draws seeded by `seed`)."""
    raw = read_yaml(path)
    where = str(path)
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(f"{where}: a grid must map dotted config keys to values to try")
    raw = dict(raw)
    samples = raw.pop("samples", None)
    for key in raw:
        if not isinstance(key, str) or not key.strip():
            raise ConfigError(f"{where}: {key!r}: keys must be dotted config keys")
    if samples is None:
        for key, values in raw.items():
            if not isinstance(values, list) or not values:
                raise ConfigError(f"{where}: {key}: must be a non-empty list of values to try")
        combos = itertools.product(*raw.values())
        return [_point(i, dict(zip(raw, combo))) for i, combo in enumerate(combos)]
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ConfigError(f"{where}: samples: must be an integer >= 1, got {samples!r}")
    rng = np.random.default_rng(seed)
    return [
        _point(i, {key: _draw(where, key, spec, rng) for key, spec in raw.items()})
        for i in range(samples)
    ]


def check_points(base: Path, grid: Path, points: list[Point]) -> dict[str, Config]:
    """Every point's config, validated before anything runs."""
    configs = {}
    for point in points:
        try:
            configs[point.id] = load_config(base, point.overrides)
        except ConfigError as err:
            raise ConfigError(f"{grid}: point {point.id} {point.values}: {err}") from None
    return configs


def result_row(point: Point, run_dir: Path, status: str, error: str | None = None) -> dict:
    """One line of results.jsonl, read back from the point's run directory."""
    records = read_metrics(run_dir / METRICS_FILE)
    best_accuracy, best_loss = best_validation(records)
    summary = {}
    if status == "completed" and (run_dir / SUMMARY_FILE).is_file():
        summary = json.loads((run_dir / SUMMARY_FILE).read_text())
    test = summary.get("final", {}).get("test", {}).get("accuracy")
    return {
        "id": point.id,
        "overrides": point.values,
        "status": status,
        "best_val_accuracy": best_accuracy,
        "best_val_loss": best_loss,
        "test_accuracy": test,
        "epochs": len(records),
        "seconds": summary.get("wall_seconds", sum(r["seconds"] for r in records)),
        "run": str(run_dir),
        "error": error,
    }


def run_point(base: str, point: Point, out: str) -> dict:
    """Run (or skip, resume, redo) one point; never raises for a training failure.

    Runs in a joblib worker: one BLAS thread, so that parallel points do not compete for cores
    and a point's numbers do not depend on how many run beside it.
    """
    from threadpoolctl import threadpool_limits

    from mlp import TrainingDiverged
    from mlp.checkpoint import CheckpointError, load_training_state

    run_dir = Path(out) / point.id
    if (run_dir / SUMMARY_FILE).is_file():
        return {**result_row(point, run_dir, "completed"), "skipped": True}
    with threadpool_limits(limits=1):
        try:
            session = None
            if (run_dir / RESUME_FILE).is_file():
                try:
                    state = load_training_state(run_dir / RESUME_FILE)
                    if state.info.get("status") in ("interrupted", "running"):
                        session = resume_session(run_dir, None, point.overrides)
                except (CheckpointError, RunError):
                    session = None  # damaged or stale: start the point again
            if session is None:
                config = load_config(base, point.overrides)
                session = start_session(config, Path(base), run_dir, overwrite=True)
            session.run(lambda report: None)
            session.finish()
        except TrainingDiverged as err:
            return result_row(point, run_dir, "failed", f"training diverged: {err}")
        except Interrupted:
            return result_row(point, run_dir, "interrupted")
        except Exception as err:  # any other failure is this point's, not the sweep's
            return result_row(point, run_dir, "failed", f"{type(err).__name__}: {err}")
    return {**result_row(point, run_dir, "completed"), "skipped": False}


def run_points(base: Path, points: list[Point], out: Path, n_jobs: int) -> Iterator[dict]:
    """Each point's result row, in the order they finish, `n_jobs` points at a time (with
    whatever joblib backend is active: processes on this machine, or a Dask cluster)."""
    import joblib

    base_path, out_path = str(base.resolve()), str(out.resolve())  # workers may sit elsewhere
    tasks = (joblib.delayed(run_point)(base_path, point, out_path) for point in points)
    yield from joblib.Parallel(n_jobs=n_jobs, return_as="generator_unordered")(tasks)


def dask_backend(scheduler: str) -> contextlib.ExitStack:
    """joblib's Dask backend, connected to the scheduler at `scheduler` while it is entered."""
    import joblib

    try:
        from dask.distributed import Client
    except ImportError:
        raise RunError(
            "--backend dask needs dask: pip install 'mlp-trainer[dask]' "
            "(in a clone of mlp: pip install '.[dask]')"
        ) from None
    try:
        client = Client(scheduler, timeout=10)
    except OSError as err:
        raise RunError(f"--scheduler {scheduler}: cannot connect ({err})") from None
    stack = contextlib.ExitStack()
    stack.callback(client.close)
    stack.enter_context(joblib.parallel_config(backend="dask"))
    return stack


def save_results(out: Path, rows: list[dict], configs: dict[str, Config]):
    """Write results.jsonl (ranked) and best.yaml; return the ranked rows and the best one."""
    ranked = rank(rows)
    write_text(out / SWEEP_RESULTS, "".join(json.dumps(row) + "\n" for row in ranked))
    best = next((row for row in ranked if row["status"] == "completed"), None)
    if best is not None:
        write_text(out / BEST_CONFIG, dump_config(configs[best["id"]]))
    return ranked, best


def rank(rows: list[dict]) -> list[dict]:
    """Best validation accuracy first; points without one (failed, no val split) last."""
    scored = [r for r in rows if r["best_val_accuracy"] is not None]
    others = [r for r in rows if r["best_val_accuracy"] is None]
    scored.sort(key=lambda r: (-r["best_val_accuracy"], r["best_val_loss"] or 0.0, r["id"]))
    return scored + sorted(others, key=lambda r: r["id"])
