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

This module describes the points and summarises them (the rows, their ranking, results.jsonl,
best.yaml); cli/batch.py runs them: in parallel with joblib, each worker held to one BLAS thread
so that every point computes the same numbers whatever the number of jobs, or on a Dask cluster
that shares no disk with this machine. With `--cv K` each point is K fold runs in the same
batch, so folds of different points run side by side.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cli import batch, rundir
from cli.config import (
    PATH_KEYS,
    Config,
    ConfigError,
    absolute_path,
    dump_config,
    is_path,
    load_config,
    read_yaml,
    table_settings,
)
from cli.cv import fold_row, fold_splits, summarize
from cli.experiment import load_data
from cli.rundir import (
    DEFAULT_ROOT,
    best_validation,
    inspect_run,
    is_run,
    read_config_text,
    score_of,
)
from cli.usage import UsageError
from data import Dataset, file_record
from mlp.checkpoint import atomic_write

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


def _point_error(grid: Path, point: Point, err: ConfigError) -> ConfigError:
    """The mistakes of a point's config, each line naming the grid file and the point; a
    mistake in a grid value is told as the grid's, not as the `--set` it is applied as."""
    lines = []
    for line in str(err).splitlines():
        for override in point.overrides:
            line = line.replace(f"--set {override}:", f"{override}:")
        lines.append(f"{grid}: point {point.id}: {line}")
    return ConfigError("\n".join(lines))


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
            raise _point_error(grid, point, err) from None
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
    summary = (state.summary if state is not None else None) or {}
    score = score_of(summary, records)  # accuracy, or a regression's r2
    best_score, best_loss = best_validation(records, score)
    test = summary.get("final", {}).get("test", {}).get(score)
    return {
        "id": point.id,
        "overrides": point.point.values,
        "status": status,
        "score": score,
        f"best_val_{score}": best_score,
        "best_val_loss": best_loss,
        f"test_{score}": test,
        "epochs": len(records),
        "seconds": summary.get("wall_seconds", sum(r["seconds"] for r in records)),
        "run": str(run_dir),
        "error": error,
    }


def cv_row(point: ResolvedPoint, point_dir: Path, folds: list[dict]) -> dict:
    """One line of results.jsonl for a point cross-validated as `mlp cv` does."""
    score = next((row_score(row) for row in folds if row_score(row)), "accuracy")
    result = summarize(folds, score)
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
        "score": score,
        f"best_val_{score}": None,
        "best_val_loss": None,
        f"test_{score}": None,
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


def run_points(
    base: Path,
    points: list[ResolvedPoint],
    out: Path,
    n_jobs: int,
    cv: int | None = None,
    client: Any = None,
) -> Iterator[dict]:
    """Each point's result row, in the order they finish, run by cli/batch.py: `n_jobs` runs
    at a time in joblib processes on this machine, or on the Dask cluster of `client`. `cv`:
    cross-validate each point with that many folds, DIR/<point-id>-cvK/fold-1 .. fold-K, all
    the folds of all the points in one batch."""
    home = out if client is not None else out.resolve()  # the folder the rows name, as before
    if cv is None:
        by_name = {batch.point_name(point.id): point for point in points}
        runs = [batch.Run(name, point.config) for name, point in by_name.items()]
        for outcome in batch.run_all(base, runs, out, n_jobs, client):
            point, run_dir = by_name[outcome.name], home / outcome.name
            row = result_row(point, run_dir, outcome.status, outcome.error)
            yield {**row, "skipped": outcome.skipped}
        return
    runs, owners, failed = _fold_runs(points, cv, home)
    yield from failed
    folds = batch.run_all(base, runs, out, n_jobs, client)
    yield from _cv_rows(points, folds, owners, home, cv)


def _fold_runs(
    points: list[ResolvedPoint], cv: int, home: Path
) -> tuple[list[batch.Run], dict[str, tuple[ResolvedPoint, int]], list[dict]]:
    """Each point's folds as runs, each run's (point, fold number), and the rows of the points
    whose folds could not be drawn (loading each distinct dataset once)."""
    runs, owners, failed = [], {}, []
    loaded: dict[str, Dataset] = {}
    for point in points:
        key = repr((point.config.data.dataset, table_settings(point.config)))
        try:
            if key not in loaded:
                loaded[key] = load_data(point.config)
            splits = fold_splits(point.config, cv, loaded[key])
        except Exception as err:  # the folds could not even be drawn
            point_dir = home / batch.cv_point_name(point.id, cv)
            row = {**cv_row(point, point_dir, []), "status": "failed", "error": str(err)}
            failed.append({**row, "skipped": False})
            continue
        for number, split in enumerate(splits, start=1):
            name = batch.cv_fold_name(point.id, cv, number)
            runs.append(batch.Run(name, point.config, split))
            owners[name] = (point, number)
    return runs, owners, failed


def _cv_rows(
    points: list[ResolvedPoint],
    outcomes: Iterator[batch.Outcome],
    owners: dict[str, tuple[ResolvedPoint, int]],
    home: Path,
    cv: int,
) -> Iterator[dict]:
    """Each cross-validated point's row once all its folds are done (or one is interrupted);
    `owners`: each fold run's (point, fold number)."""
    folds: dict[str, list[dict]] = {point.id: [] for point in points}
    for outcome in outcomes:
        point, number = owners[outcome.name]
        point_dir = home / batch.cv_point_name(point.id, cv)
        rows = folds[point.id]
        rows.append(fold_row(number, home / outcome.name, outcome.status, outcome.error))
        if len(rows) == cv or outcome.status == "interrupted":
            rows.sort(key=lambda row: row["fold"])
            yield {**cv_row(point, point_dir, rows), "skipped": False}


def save_results(out: Path, rows: list[dict]):
    """Write results.jsonl (ranked) and best.yaml (the config the best point was trained
    with, read from its run); return the ranked rows and the best one."""
    ranked = rank(rows)
    text = "".join(json.dumps(row) + "\n" for row in ranked)
    atomic_write(out / SWEEP_RESULTS, lambda file: file.write(text.encode("utf-8")))
    best = next((row for row in ranked if row["status"] == "completed"), None)
    if best is not None:
        run = Path(best["run"])
        config_text = read_config_text(run / batch.fold_name(1) if "cv_mean" in best else run)
        atomic_write(out / BEST_CONFIG, lambda file: file.write(config_text.encode("utf-8")))
    return ranked, best


def row_score(row: dict) -> str | None:
    """The score a fold's or point's row holds: "accuracy", a regression's "r2", or None."""
    if "score" in row:
        return row["score"]
    return next((name for name in ("accuracy", "r2") if name in row), None)


def ranking_key(row: dict) -> str:
    """The figure a point is ranked by: its mean cross-validated score with --cv, else its
    best validation score (accuracy, or a regression's R²)."""
    return "cv_mean" if "cv_mean" in row else f"best_val_{row.get('score', 'accuracy')}"


def rank(rows: list[dict]) -> list[dict]:
    """Best validation score first (mean cross-validated score, then mean loss, for a sweep
    with --cv); points without one (failed, no val split) last."""
    loss = "cv_loss_mean" if any("cv_mean" in r for r in rows) else "best_val_loss"
    scored = [r for r in rows if r.get(ranking_key(r)) is not None]
    others = [r for r in rows if r.get(ranking_key(r)) is None]
    scored.sort(key=lambda r: (-r[ranking_key(r)], r[loss] or 0.0, r["id"]))
    return scored + sorted(others, key=lambda r: r["id"])


def prepare(config_path: Path, grid: Path, out: Path | None, overrides, cv: int | None):
    """The grid's points, each config validated, and the sweep's folder, made and locked (one
    sweep per folder, held until this process ends); folds that cannot be drawn are refused
    before any point."""
    base = load_config(config_path, overrides)
    if cv is not None:
        fold_splits(base, cv)
    points = load_grid(grid, base.seed)
    points = resolve_points(config_path, grid, points, overrides)
    tasks = sorted({point.config.task for point in points})
    if len(tasks) > 1:  # an accuracy and an R^2 are not one ranking
        raise UsageError(
            f"--grid {grid}: its points ask for task {', '.join(tasks)}; a sweep ranks its "
            "points by one score, so sweep each task in a grid of its own"
        )
    out = out or DEFAULT_ROOT / f"{config_path.stem}-sweep-{grid.stem}"
    out.mkdir(parents=True, exist_ok=True)
    rundir.lock_folder(out, "sweep")
    return points, out
