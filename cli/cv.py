"""`mlp cv`: K-fold cross-validation as K ordinary runs, DIR/fold-1 .. DIR/fold-K, stratified
by class for a classification and plain (seeded) for a regression.

The folds are drawn over the whole dataset with the config's seed (`data.stratified_folds`,
or `data.plain_folds` for a regression);
`data.test_size` does not apply, since each fold's held-out rows are its run's `test` part.
The validation fraction, `data.val_size`, is carved out of each fold's training rows with
the same generator, so early stopping works as in any run. Each fold's run records its own
split (split.npz, marked as given in data.json), so `mlp eval DIR/fold-2` scores exactly
the rows that fold held out, and `mlp train --resume` finds them again.

This module describes the folds (their splits) and summarises them; cli/batch.py runs them as
it runs sweep points: joblib processes on this machine, or a Dask cluster that is sent the data
and sends the runs back, one BLAS thread each, and a local worker stops when the command dies.

The folder records what it cross-validates (`cv.json`: the number of folds and the resolved
config), so that running the same command again continues it as a sweep continues: finished
folds are kept, an interrupted fold resumes from its saved state (ending bit for bit where an
uninterrupted one would), and a failed or damaged one is trained afresh. Another config or
another number of folds in the same folder is refused, naming the first difference.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from cli.batch import Run, fold_name, run_all
from cli.config import Config, config_to_dict
from cli.experiment import load_data, split_error
from cli.rundir import DEFAULT_ROOT, LOCK_FILE, inspect_run, is_run, lock_folder, score_of
from cli.session import flat_keys
from cli.threads import ThreadSetting
from cli.usage import UsageError
from data import DataError, Dataset, plain_folds, split_indices, stratified_folds
from mlp.checkpoint import atomic_write

# What the folder of a cross-validation records about it, so that a rerun can continue it.
RECORD = "cv.json"


def default_out(config_path: Path) -> Path:
    """runs/<config name>-cv: the same folder each time, so the same command continues it."""
    return DEFAULT_ROOT / f"{config_path.stem}-cv"


def claim_out(out: Path, config: Config, k: int) -> bool:
    """Make `out` this cross-validation's folder; True when it already was (a rerun).

    A folder that records another config or number of folds, or holds files but no record, is
    refused (UsageError) with the first difference and a hint, before anything is trained.
    The folder's lock is taken first and held until this process ends: one cv per folder.
    """
    # as JSON would read it back: lists, not tuples
    record = json.loads(json.dumps({"folds": k, "config": config_to_dict(config)}))
    path = out / RECORD
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: exists and is not a folder; choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    lock_folder(out, "cv")  # another cv here is refused, naming its process
    if path.is_file():
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as err:
            raise UsageError(f"{path}: unreadable ({err}); choose another --out") from None
        difference = _first_difference(saved, record)
        if difference:
            raise UsageError(
                f"--out {out}: holds a cross-validation with another {difference}; "
                "choose another --out (or rerun with the same config and --folds to continue it)"
            )
        return True
    if any(entry.name != LOCK_FILE for entry in out.iterdir()):
        raise UsageError(
            f"--out {out}: exists and is not an empty folder or one of mlp cv's; "
            "choose another --out"
        )
    text = json.dumps(record, indent=1) + "\n"
    atomic_write(path, lambda file: file.write(text.encode("utf-8")))
    return False


def _first_difference(saved: Any, now: dict) -> str | None:
    """'--folds (5 there, 3 now)' or 'train.epochs (40 there, 60 now)', or None if equal."""
    if not isinstance(saved, dict):
        return f"{RECORD} (not a mapping)"
    if saved.get("folds") != now["folds"]:
        return f"--folds ({saved.get('folds')} there, {now['folds']} now)"
    there = flat_keys(saved.get("config")) if isinstance(saved.get("config"), dict) else {}
    here = flat_keys(now["config"])
    for key in sorted(there.keys() | here.keys()):
        if there.get(key) != here.get(key):
            return f"{key} ({there.get(key)!r} there, {here.get(key)!r} now)"
    return None


def fold_splits(
    config: Config, k: int, dataset: Dataset | None = None
) -> list[dict[str, np.ndarray]]:
    """Each fold's train/val/test row indices: test is the fold, val carved from the rest
    (`dataset`: the config's data, if it is already loaded)."""
    rng = np.random.default_rng(config.seed)
    dataset = dataset if dataset is not None else load_data(config)
    stratify = dataset.task == "classification"  # a regression's folds are plain
    try:
        folds = stratified_folds(dataset.y, k, rng) if stratify else plain_folds(dataset.y, k, rng)
        splits = []
        for held in folds:
            rest = np.setdiff1d(np.arange(dataset.n_samples), held)  # sorted
            rows = split_indices(
                dataset.y[rest],
                test_size=0.0,
                val_size=config.data.val_size,
                rng=rng,
                stratify=stratify,
            )
            split = {"train": rest[rows.train], "val": rest[rows.val], "test": held}
            splits.append({name: r for name, r in split.items() if name != "val" or len(r)})
    except DataError as err:
        raise split_error(dataset, err) from None
    return splits


def fold_row(number: int, run_dir: Path, status: str, error: str | None = None) -> dict:
    """One fold's result, read back from its run: held-out rows, test score (accuracy, or a
    regression's r2) and loss."""
    summary = (inspect_run(run_dir).summary if is_run(run_dir) else None) or {}
    test = summary.get("final", {}).get("test", {})
    score = score_of(summary, [])
    return {
        "fold": number,
        "n": test.get("n"),
        score: test.get(score),
        "loss": test.get("loss"),
        "epochs": summary.get("epochs"),
        "run": str(run_dir),
        "status": status,
        "error": error,
    }


def run_folds(
    base: Path,
    config: Config,
    splits: list[dict],
    out: Path,
    n_jobs: int,
    client: Any = None,
    threads: ThreadSetting = 1,
) -> Iterator[dict]:
    """Each fold's row, the kept folds first, then in the order they finish (cli/batch.py:
    `n_jobs` at a time on this machine, or on the Dask cluster of `client`). `threads` applies
    only when the folds run one at a time in this process."""
    runs = [Run(fold_name(number), config, split) for number, split in enumerate(splits, start=1)]
    numbers = {run.name: number for number, run in enumerate(runs, start=1)}
    for outcome in run_all(base, runs, out, n_jobs, client, threads):
        # the rows name a fold trained here by its absolute path, a kept one as given
        home = out.resolve() if client is None and not outcome.skipped else out
        yield fold_row(numbers[outcome.name], home / outcome.name, outcome.status, outcome.error)


def summarize(rows: list[dict], score: str = "accuracy") -> dict:
    """The folds in order, with the mean and (population) standard deviation of their test
    `score` (accuracy, or a regression's r2) and the mean of their test loss, over the folds
    that completed; "score" names what "mean" and "std" average."""
    folds = sorted(rows, key=lambda row: row["fold"])
    done = [row for row in folds if row["status"] == "completed"]
    accuracy = np.array([row.get(score) for row in done], dtype=np.float64)
    loss = np.array([row["loss"] for row in done], dtype=np.float64)
    return {
        "score": score,
        "folds": folds,
        "mean": float(accuracy.mean()) if len(done) else None,
        "std": float(accuracy.std()) if len(done) else None,
        "loss_mean": float(loss.mean()) if len(done) else None,
    }
