"""`mlp cv`: stratified K-fold cross-validation as K ordinary runs, DIR/fold-1 .. DIR/fold-K.

The folds are drawn over the whole dataset with the config's seed (`data.stratified_folds`);
`data.test_size` does not apply, since each fold's held-out rows are its run's `test` part.
The validation fraction, `data.val_size`, is carved out of each fold's training rows with
the same generator, so early stopping works as in any run. Each fold's run records its own
split (split.npz, marked as given in data.json), so `mlp eval DIR/fold-2` scores exactly
the rows that fold held out, and `mlp train --resume` finds them again.

Folds run in parallel as sweep points do (cli/sweep.py): joblib processes on this machine, or
a Dask cluster that is sent the data and sends the runs back (cli/remote.py), one BLAS thread
each, and a local worker stops when the command dies.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from cli.config import Config
from cli.experiment import load_data
from cli.rundir import inspect_run, is_run, read_split
from cli.session import start_session
from cli.sweep import train_in_worker, watch_parent
from cli.threads import ThreadSetting
from data import DataError, Dataset, split_indices, stratified_folds

DEFAULT_FOLDS = 5


def fold_dir(out: Path, number: int) -> Path:
    """Where fold `number` (from 1) is trained."""
    return out / f"fold-{number}"


def fold_splits(
    config: Config, k: int, dataset: Dataset | None = None
) -> list[dict[str, np.ndarray]]:
    """Each fold's train/val/test row indices: test is the fold, val carved from the rest
    (`dataset`: the config's data, if it is already loaded)."""
    rng = np.random.default_rng(config.seed)
    dataset = dataset if dataset is not None else load_data(config)
    try:
        folds = stratified_folds(dataset.y, k, rng)
        splits = []
        for held in folds:
            rest = np.setdiff1d(np.arange(dataset.n_samples), held)  # sorted
            rows = split_indices(
                dataset.y[rest], test_size=0.0, val_size=config.data.val_size, rng=rng
            )
            split = {"train": rest[rows.train], "val": rest[rows.val], "test": held}
            splits.append({name: r for name, r in split.items() if name != "val" or len(r)})
    except DataError as err:
        raise DataError(f"{dataset.name}: {err}") from None
    return splits


def fold_row(number: int, run_dir: Path, status: str, error: str | None = None) -> dict:
    """One fold's result, read back from its run: held-out rows, test accuracy and loss."""
    summary = (inspect_run(run_dir).summary if is_run(run_dir) else None) or {}
    test = summary.get("final", {}).get("test", {})
    return {
        "fold": number,
        "n": test.get("n"),
        "accuracy": test.get("accuracy"),
        "loss": test.get("loss"),
        "epochs": summary.get("epochs"),
        "run": str(run_dir),
        "status": status,
        "error": error,
    }


def _same_completed_run(run_dir: Path, split: dict[str, np.ndarray]) -> bool:
    """True when `run_dir` already holds this fold, complete (a re-run sweep point)."""
    if not is_run(run_dir) or inspect_run(run_dir).status != "completed":
        return False
    saved = read_split(run_dir)
    return saved.keys() == split.keys() and all(np.array_equal(saved[k], split[k]) for k in split)


def run_fold(
    base: str,
    config: Config,
    number: int,
    split: dict,
    out: str,
    parent: int | None,
    dataset: Dataset | None = None,
    threads: ThreadSetting = 1,
) -> dict:
    """Train fold `number` as a run under `out` (kept if it is already done); never raises
    for a training failure. Runs in a joblib worker, as `cli.sweep.run_point` does;
    `dataset`: the config's data, loaded by the client (on a Dask worker); `threads`: BLAS
    threads (1 unless the folds run one at a time in this process)."""

    if parent is not None:
        watch_parent(parent)
    run_dir = fold_dir(Path(out), number)
    if _same_completed_run(run_dir, split):
        return fold_row(number, run_dir, "completed")
    status, error = train_in_worker(
        lambda: start_session(
            config, Path(base), run_dir, overwrite=True, split=split, dataset=dataset
        ),
        threads,
    )
    return fold_row(number, run_dir, status, error)


def run_folds(
    base: Path,
    config: Config,
    splits: list[dict],
    out: Path,
    n_jobs: int,
    local: bool,
    client: Any = None,
    threads: ThreadSetting = 1,
) -> Iterator[dict]:
    """Each fold's row, in the order they finish, `n_jobs` at a time in joblib processes on
    this machine, or on the Dask cluster of `client` (cli/remote.py). `threads` applies only
    when the folds run one at a time in this process; folds in parallel keep one BLAS thread
    each."""
    import joblib

    if client is not None:
        from cli import remote

        yield from remote.run_folds(client, base, config, splits, out)
        return

    base_path, out_path = str(base.resolve()), str(out.resolve())  # workers may sit elsewhere
    parent = os.getpid() if local and n_jobs > 1 else None
    threads = threads if local and n_jobs == 1 else 1
    tasks = (
        joblib.delayed(run_fold)(
            base_path, config, number, split, out_path, parent, threads=threads
        )
        for number, split in enumerate(splits, start=1)
    )
    yield from joblib.Parallel(n_jobs=n_jobs, return_as="generator_unordered")(tasks)


def run_all_folds(
    base: Path, config: Config, k: int, out: Path, dataset: Dataset | None = None
) -> list[dict]:
    """Every fold of one config, one after another in this process (a `sweep --cv` point)."""
    splits = fold_splits(config, k, dataset)
    return [
        run_fold(str(base), config, number, split, str(out), None, dataset)
        for number, split in enumerate(splits, start=1)
    ]


def summarize(rows: list[dict]) -> dict:
    """The folds in order, with the mean and (population) standard deviation of their test
    accuracy and the mean of their test loss, over the folds that completed."""
    folds = sorted(rows, key=lambda row: row["fold"])
    done = [row for row in folds if row["status"] == "completed"]
    accuracy = np.array([row["accuracy"] for row in done], dtype=np.float64)
    loss = np.array([row["loss"] for row in done], dtype=np.float64)
    return {
        "folds": folds,
        "mean": float(accuracy.mean()) if len(done) else None,
        "std": float(accuracy.std()) if len(done) else None,
        "loss_mean": float(loss.mean()) if len(done) else None,
    }
