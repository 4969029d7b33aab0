"""`mlp sweep`: ordinary runs over a grid (or a random sample) of config values, in parallel.

A grid file maps dotted config keys to the values to try:

    train.optimizer.lr: [0.01, 0.1]        # a full grid: every combination (here 2 x 2)
    model.hidden: [[64], [128]]

or, with `samples: N`, to what to draw N points from, with the base config's seed:

    samples: 8
    train.optimizer.lr: {low: 0.001, high: 0.3, log: true}   # log-uniform
    train.batch_size: {low: 16, high: 64}                      # integers: uniform, inclusive
    model.hidden: [[64], [128]]                                # a list: one of its values

A path in a grid (a CSV dataset, `model.init_from`) is relative to the grid file's folder.

A point is its whole resolved config: the base config with the point's values, every default
filled in, plus the digest of its data file. Each point is an ordinary run under
DIR/<point-id>/ (so `mlp eval` works on it), and its id is its place in the grid and a digest
of all that, so re-running the same sweep finds its points again (finished ones are skipped,
interrupted ones resumed, failed or damaged ones redone), while a point whose base config or
data changed gets a new id and is trained afresh. results.jsonl and best.yaml list only the
points of the current grid.

Points run in parallel with joblib, each worker held to one BLAS thread so that workers do not
fight over cores and every point computes the same numbers whatever the number of jobs; or
on a Dask cluster that shares no disk with this machine (cli/remote.py). A
local worker watches its parent: if the sweep is killed, the worker stops its point (saved,
resumable) and exits within about a second.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import math
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cli.config import (
    PATH_KEYS,
    Config,
    ConfigError,
    absolute_path,
    dump_config,
    is_path,
    load_config,
    read_yaml,
)
from cli.rundir import (
    RunError,
    best_validation,
    inspect_run,
    is_run,
    read_config_text,
)
from cli.session import Interrupted, Session, resume_session, start_session
from cli.threads import ThreadSetting, TrainingThreads
from data import Dataset, file_record
from mlp.checkpoint import CheckpointError, atomic_write

# How often a local worker checks that the sweep that started it is still alive.
WATCH_SECONDS = 0.5
ORPHANED = threading.Event()  # set in a worker whose sweep has died

SWEEP_RESULTS = "results.jsonl"
BEST_CONFIG = "best.yaml"
MAX_POINTS = 10_000  # points (or random samples) one sweep may have: each is a run


@dataclass(frozen=True)
class Point:
    """One combination of overridden values; `id` also names its run directory."""

    index: int
    values: dict[str, Any]  # dotted key -> value

    @property
    def overrides(self) -> list[str]:
        """The values as `--set` strings (JSON is valid YAML, so they parse back exactly)."""
        return [f"{key}={json.dumps(value)}" for key, value in self.values.items()]

    @property
    def id(self) -> str:
        """Its place in the grid and a digest of its values (see `point_id` for runs)."""
        digest = hashlib.sha256(json.dumps(self.values, sort_keys=True).encode()).hexdigest()
        return f"{self.index:03d}-{digest[:8]}"


@dataclass(frozen=True)
class ResolvedPoint:
    """A point as it is trained: its whole config, as YAML text, and the id of its run."""

    point: Point
    config: Config
    config_text: str
    id: str


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


def check_point_count(where: str, count: int, what: str) -> None:
    """Refuse a grid of more than MAX_POINTS points before any is built (a few lines of YAML
    can ask for a billion)."""
    if count > MAX_POINTS:
        raise ConfigError(
            f"{where}: {count:,} {what}; a sweep takes at most {MAX_POINTS:,} points "
            "(split the grid, or draw fewer samples)"
        )


def load_grid(path: Path, seed: int) -> list[Point]:
    """The points of a grid file (a full grid, or `samples` random draws seeded by `seed`);
    relative paths in it are made absolute against the grid file's folder."""
    raw = read_yaml(path)
    where = str(path)
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(f"{where}: a grid must map dotted config keys to values to try")
    raw = dict(raw)
    samples = raw.pop("samples", None)
    for key in raw:
        if not isinstance(key, str) or not key.strip():
            raise ConfigError(f"{where}: {key!r}: keys must be dotted config keys")
    base = path.absolute().parent
    for key in raw:
        section, _, name = key.rpartition(".")
        if (section, name) in PATH_KEYS and isinstance(raw[key], list):
            raw[key] = [
                absolute_path(v, base) if is_path(section, name, v) else v for v in raw[key]
            ]
    if samples is None:
        for key, values in raw.items():
            if not isinstance(values, list) or not values:
                raise ConfigError(f"{where}: {key}: must be a non-empty list of values to try")
        check_point_count(where, math.prod(len(values) for values in raw.values()), "points")
        combos = itertools.product(*raw.values())
        return [Point(i, dict(zip(raw, combo))) for i, combo in enumerate(combos)]
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ConfigError(f"{where}: samples: must be an integer >= 1, got {samples!r}")
    check_point_count(where, samples, "samples")
    rng = np.random.default_rng(seed)
    return [
        Point(i, {key: _draw(where, key, spec, rng) for key, spec in raw.items()})
        for i in range(samples)
    ]


def resolve_points(
    base: Path, grid: Path, points: list[Point], overrides: Sequence[str] = ()
) -> list[ResolvedPoint]:
    """Every point's whole config (the base with `overrides`, then the point's values),
    validated before anything runs, and its run's id."""
    resolved = []
    digests: dict[str, str] = {}
    for point in points:
        try:
            config = load_config(base, [*overrides, *point.overrides])
        except ConfigError as err:
            raise ConfigError(f"{grid}: point {point.id} {point.values}: {err}") from None
        text = dump_config(config)
        dataset = config.data.dataset
        if dataset not in digests:  # a CSV's content is part of the point; a bundled set's name
            is_file = Path(dataset).is_file()
            digests[dataset] = file_record(dataset)["sha256"] if is_file else dataset
        digest = hashlib.sha256((text + digests[dataset]).encode()).hexdigest()[:8]
        resolved.append(ResolvedPoint(point, config, text, f"{point.index:03d}-{digest}"))
    return resolved


def result_row(point: ResolvedPoint, run_dir: Path, status: str, error: str | None = None):
    """One line of results.jsonl, read back from the point's run directory."""
    state = inspect_run(run_dir) if is_run(run_dir) else None
    records = state.metrics if state is not None else []
    best_accuracy, best_loss = best_validation(records)
    summary = (state.summary if state is not None else None) or {}
    test = summary.get("final", {}).get("test", {}).get("accuracy")
    return {
        "id": point.id,
        "overrides": point.point.values,
        "status": status,
        "best_val_accuracy": best_accuracy,
        "best_val_loss": best_loss,
        "test_accuracy": test,
        "epochs": len(records),
        "seconds": summary.get("wall_seconds", sum(r["seconds"] for r in records)),
        "run": str(run_dir),
        "error": error,
    }


def cv_row(point: ResolvedPoint, point_dir: Path, folds: list[dict]) -> dict:
    """One line of results.jsonl for a point cross-validated as `mlp cv` does."""
    from cli.cv import summarize

    result = summarize(folds)
    failed = [row for row in folds if row["status"] != "completed"]
    status = failed[0]["status"] if failed else "completed"
    error = f"fold {failed[0]['fold']}: {failed[0]['error']}" if failed else None
    return {
        "id": point.id,
        "overrides": point.point.values,
        "status": status,
        "cv_mean": result["mean"] if not failed else None,
        "cv_std": result["std"] if not failed else None,
        "cv_loss_mean": result["loss_mean"] if not failed else None,
        "best_val_accuracy": None,
        "best_val_loss": None,
        "test_accuracy": None,
        # a fold's epochs, as a point's are (the most any fold trained, under early stopping)
        "epochs": max((row["epochs"] or 0 for row in folds), default=0),
        "fold_epochs": [row["epochs"] for row in folds],
        "seconds": sum(inspect_seconds(Path(row["run"])) for row in folds),
        "run": str(point_dir),
        "error": error,
    }


def inspect_seconds(run_dir: Path) -> float:
    """A run's training time, from its summary (0 for a run that did not complete)."""
    state = inspect_run(run_dir) if is_run(run_dir) else None
    return float(((state.summary if state else None) or {}).get("wall_seconds", 0.0))


def run_point(
    base: str,
    point: ResolvedPoint,
    out: str,
    parent: int | None,
    cv: int | None = None,
    dataset: Dataset | None = None,
) -> dict:
    """Run (or skip, resume, redo) one point; never raises for a training failure.

    Runs in a joblib worker: one BLAS thread, so that parallel points do not compete for cores
    and a point's numbers do not depend on how many run beside it. `parent`: the sweep's
    process id, watched so that the point stops if the sweep dies. `cv`: cross-validate the
    point with this many folds, DIR/<point-id>-cvK/fold-1 .. fold-K (finished folds are kept).
    `dataset`: the point's data, loaded by the client (on a Dask worker, see cli/remote.py).
    """
    from threadpoolctl import threadpool_limits

    if parent is not None:
        watch_parent(parent)
    run_dir = Path(out) / point.id
    if cv is not None:
        from cli.cv import run_all_folds

        run_dir = Path(out) / f"{point.id}-cv{cv}"  # never inside the same point's plain run
        with threadpool_limits(limits=1):
            try:
                folds = run_all_folds(Path(base), point.config, cv, run_dir, dataset)
            except Exception as err:  # the folds could not even be drawn
                return {**cv_row(point, run_dir, []), "status": "failed", "error": str(err)}
        return {**cv_row(point, run_dir, folds), "skipped": False}
    status = inspect_run(run_dir).status if is_run(run_dir) else None
    if status == "completed":
        return {**result_row(point, run_dir, "completed"), "skipped": True}

    def open_session() -> Session:
        if status == "interrupted":
            with contextlib.suppress(RunError, ConfigError, CheckpointError):
                return resume_session(run_dir, None, (), dataset)
        # new, failed, damaged, or not resumable: train it afresh
        return start_session(point.config, Path(base), run_dir, overwrite=True, dataset=dataset)

    status_now, error = train_in_worker(open_session)
    return {**result_row(point, run_dir, status_now, error), "skipped": False}


def train_in_worker(
    open_session: Callable[[], Session], threads: ThreadSetting = 1
) -> tuple[str, str | None]:
    """Open a session, train it to the end and save it, in a worker held to one BLAS thread
    (or to `threads` while training: a cv whose folds run one at a time, in this process).

    Never raises for a training failure: returns ("completed", None), ("interrupted", None) or
    ("failed", why), a failure being this run's, not the sweep's. A worker whose sweep has died
    exits once its state is saved.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        session = None
        try:
            session = open_session()
            session.threads = TrainingThreads(threads)
            session.run(lambda report: None)
            session.finish()
        except FloatingPointError as err:  # TrainingDiverged, LossDiverged
            return "failed", f"training diverged: {err}"
        except Interrupted:
            return "interrupted", None
        except Exception as err:  # any other failure is this run's, not the sweep's
            return "failed", f"{type(err).__name__}: {err}"
        finally:
            if session is not None:
                session.close()
            if ORPHANED.is_set():  # the sweep is gone: nobody is waiting for this result
                os._exit(1)
    return "completed", None


def watch_parent(parent: int) -> None:
    """Stop this worker's point (saved, resumable) and exit once the sweep process is gone.

    A killed sweep (SIGKILL included) cannot tell its workers; they notice instead that they
    have been orphaned, within WATCH_SECONDS, and send themselves SIGTERM, which the training
    loop answers by saving its state. A second check later ends a worker that is not training.
    """
    if getattr(watch_parent, "started", False):
        return
    watch_parent.started = True  # type: ignore[attr-defined]

    def watch() -> None:
        while os.getppid() == parent and _alive(parent):
            time.sleep(WATCH_SECONDS)
        ORPHANED.set()
        # Training answers SIGTERM by saving its state, then run_point exits; a worker that
        # is not training dies of it at once (the default action).
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(60)  # a save that hangs this long: give up on it
        os._exit(1)

    threading.Thread(target=watch, name="mlp-watch-parent", daemon=True).start()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run_points(
    base: Path,
    points: list[ResolvedPoint],
    out: Path,
    n_jobs: int,
    local: bool,
    cv: int | None = None,
    client: Any = None,
) -> Iterator[dict]:
    """Each point's result row, in the order they finish, `n_jobs` points at a time in joblib
    processes on this machine, or on the Dask cluster of `client` (cli/remote.py, which
    schedules the points itself); `cv`: cross-validate each point with that many folds."""
    import joblib

    if client is not None:
        from cli import remote

        yield from remote.run_points(client, base, points, out, cv)
        return

    base_path, out_path = str(base.resolve()), str(out.resolve())  # workers may sit elsewhere
    parent = os.getpid() if local and n_jobs > 1 else None
    tasks = (joblib.delayed(run_point)(base_path, point, out_path, parent, cv) for point in points)
    yield from joblib.Parallel(n_jobs=n_jobs, return_as="generator_unordered")(tasks)


def save_results(out: Path, rows: list[dict]):
    """Write results.jsonl (ranked) and best.yaml (the config the best point was trained
    with, read from its run); return the ranked rows and the best one."""
    ranked = rank(rows)
    text = "".join(json.dumps(row) + "\n" for row in ranked)
    atomic_write(out / SWEEP_RESULTS, lambda file: file.write(text.encode("utf-8")))
    best = next((row for row in ranked if row["status"] == "completed"), None)
    if best is not None:
        run = Path(best["run"])
        config_text = read_config_text(run / "fold-1" if "cv_mean" in best else run)
        atomic_write(out / BEST_CONFIG, lambda file: file.write(config_text.encode("utf-8")))
    return ranked, best


def rank(rows: list[dict]) -> list[dict]:
    """Best validation accuracy first (mean cross-validated accuracy, then mean loss, for a
    sweep with --cv); points without one (failed, no val split) last."""
    cv = any("cv_mean" in r for r in rows)
    accuracy, loss = ("cv_mean", "cv_loss_mean") if cv else ("best_val_accuracy", "best_val_loss")
    scored = [r for r in rows if r.get(accuracy) is not None]
    others = [r for r in rows if r.get(accuracy) is None]
    scored.sort(key=lambda r: (-r[accuracy], r[loss] or 0.0, r["id"]))
    return scored + sorted(others, key=lambda r: r["id"])
