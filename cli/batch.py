"""Many runs brought to completed: the one place that runs sweep points and cv folds.

A batch is a list of `Run`s, each a run directory under the batch's folder with the config it
trains (and, for a cross-validation fold, the split it is given). `run_all` brings every one
to an outcome:

- skip: a run whose vouched files say it completed (for a fold: with the same split) is kept;
- resume: an interrupted one continues from its saved state (ending bit for bit where an
  uninterrupted one would);
- redo: a new, failed, damaged or unresumable one is trained afresh.

Locally the runs train in joblib processes, `n_jobs` at a time, each held to one BLAS thread
so that workers do not fight over cores and a run's numbers do not depend on how many run
beside it (one job runs in this process, with the given thread count). A local worker watches
the command that started it: if it dies, the worker stops its run (saved, resumable) and exits
within about a second. On a Dask cluster (cli/remote.py) each distinct dataset is shipped once,
a run trains in a temporary folder on a worker, and its files come home (`rundir.import_run`).

The folders are named here, once: a sweep point `<id>`, a cross-validated point
`<id>-cv<K>/fold-<k>`, a cv fold `fold-<k>`. Only this module and cli/remote.py know about
joblib and Dask.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cli import remote
from cli.config import Config, ConfigError
from cli.rundir import RunError, export_run, inspect_run, is_run, read_split
from cli.session import Interrupted, Session, resume_session, start_session
from cli.threads import ThreadSetting, TrainingThreads
from data import Dataset
from mlp import CheckpointError

# How often a local worker checks that the command that started it is still alive.
WATCH_SECONDS = 0.5
ORPHANED = threading.Event()  # set in a worker whose command has died

connect = remote.connect  # a Dask client for --scheduler, checked for this mlp-trainer version


@dataclass(frozen=True, eq=False)  # eq=False: a split's arrays have no single truth value
class Run:
    """One run of a batch: its folder under the batch's, its config, and for a cv fold the
    row indices of each part it is given (else drawn from the config's sizes)."""

    name: str
    config: Config
    split: dict[str, np.ndarray] | None = None


@dataclass(frozen=True)
class Outcome:
    """How a run ended: completed, interrupted or failed (with why); `skipped` when it was
    already completed and kept."""

    name: str
    status: str
    error: str | None = None
    skipped: bool = False


# -- names ------------------------------------------------------------------------------------


def point_name(point_id: str) -> str:
    """The folder of a sweep point's run."""
    return point_id


def cv_point_name(point_id: str, k: int) -> str:
    """The folder of a sweep point cross-validated with `k` folds (never its plain run's)."""
    return f"{point_id}-cv{k}"


def fold_name(number: int) -> str:
    """The folder of cross-validation fold `number` (from 1) under its cv's folder."""
    return f"fold-{number}"


def cv_fold_name(point_id: str, k: int, number: int) -> str:
    """The folder of fold `number` of a sweep point cross-validated with `k` folds."""
    return f"{cv_point_name(point_id, k)}/{fold_name(number)}"


# -- one run ----------------------------------------------------------------------------------


def run_status(run_dir: Path, split: dict[str, np.ndarray] | None = None) -> str | None:
    """The status of the run in `run_dir` (completed, interrupted, failed, damaged or running),
    or None for no run there; with `split`, None too for a run of another split."""
    if not is_run(run_dir):
        return None
    status = inspect_run(run_dir).status
    if split is None or status not in ("completed", "interrupted"):
        return status
    try:
        saved = read_split(run_dir)
    except RunError:
        return "damaged"
    same = saved.keys() == split.keys() and all(np.array_equal(saved[k], split[k]) for k in split)
    return status if same else None


def train_run(
    base: str,
    run: Run,
    out: str,
    parent: int | None,
    dataset: Dataset | None = None,
    threads: ThreadSetting = 1,
) -> Outcome:
    """Skip, resume or redo `run` under `out`; never raises for a training failure.

    Runs in a worker: `parent`, the command's process id, watched so that the run stops if the
    command dies; `dataset`, the run's data loaded by the client (on a Dask worker); `threads`,
    BLAS threads (1 unless the runs go one at a time in this process).
    """
    if parent is not None:
        watch_parent(parent)
    run_dir = Path(out) / run.name
    status = run_status(run_dir, run.split)
    if status == "completed":
        return Outcome(run.name, "completed", skipped=True)

    def open_session() -> Session:
        if status == "interrupted":  # resumed where it stopped: bit for bit the same end
            with contextlib.suppress(RunError, ConfigError, CheckpointError):
                return resume_session(run_dir, None, (), dataset)
        # new, failed, damaged, or not resumable: train it afresh
        return start_session(
            run.config, Path(base), run_dir, overwrite=True, split=run.split, dataset=dataset
        )

    status_now, error = train_in_worker(open_session, threads)
    return Outcome(run.name, status_now, error)


def train_in_worker(
    open_session: Callable[[], Session], threads: ThreadSetting = 1
) -> tuple[str, str | None]:
    """Open a session, train it to the end and save it, held to one BLAS thread (or to
    `threads` while training: runs one at a time, in this process).

    Never raises for a training failure: returns ("completed", None), ("interrupted", None) or
    ("failed", why), a failure being this run's, not the batch's. A worker whose command has
    died exits once its state is saved.
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
        except Exception as err:  # any other failure is this run's, not the batch's
            return "failed", f"{type(err).__name__}: {err}"
        finally:
            if session is not None:
                session.close()
            if ORPHANED.is_set():  # the command is gone: nobody is waiting for this result
                os._exit(1)
    return "completed", None


def watch_parent(parent: int) -> None:
    """Stop this worker's run (saved, resumable) and exit once the command's process is gone.

    A killed command (SIGKILL included) cannot tell its workers; they notice instead that they
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
        # Training answers SIGTERM by saving its state, then train_run exits; a worker that
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


# -- many runs --------------------------------------------------------------------------------


def run_all(
    base: Path,
    runs: list[Run],
    out: Path,
    n_jobs: int,
    client: Any = None,
    threads: ThreadSetting = 1,
) -> Iterator[Outcome]:
    """Each run's outcome, the kept ones first, then in the order they finish: `n_jobs` at a
    time in joblib processes on this machine, or on the Dask cluster of `client`. `base`: the
    config file that relative paths are resolved against. `threads` applies only when the runs
    go one at a time in this process; runs in parallel keep one BLAS thread each."""
    todo = []
    for run in runs:
        if run_status(out / run.name, run.split) == "completed":
            yield Outcome(run.name, "completed", skipped=True)
        else:
            todo.append(run)
    if client is not None:
        yield from _run_on_dask(client, base, todo, out)
    else:
        yield from _run_locally(base, todo, out, n_jobs, threads)


def _run_locally(
    base: Path, runs: list[Run], out: Path, n_jobs: int, threads: ThreadSetting
) -> Iterator[Outcome]:
    """The runs in joblib processes (one job: in this process, with `threads`)."""
    import joblib

    base_path, out_path = str(base.resolve()), str(out.resolve())  # workers may sit elsewhere
    parent = os.getpid() if n_jobs > 1 else None
    threads = threads if n_jobs == 1 else 1
    tasks = (
        joblib.delayed(train_run)(base_path, run, out_path, parent, threads=threads) for run in runs
    )
    yield from joblib.Parallel(n_jobs=n_jobs, return_as="generator_unordered")(tasks)


def _run_on_dask(client: Any, base: Path, runs: list[Run], out: Path) -> Iterator[Outcome]:
    """The runs on the cluster; an interrupted run's files travel to the worker resuming it."""
    sent = {}
    for run in runs:
        if run_status(out / run.name, run.split) == "interrupted":
            sent[run.name] = export_run(out / run.name)
    for run, status, error in remote.run_all(client, base, runs, sent, out, train_run):
        yield Outcome(run.name, status, error)
