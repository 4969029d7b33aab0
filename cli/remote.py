"""The Dask backend of cli/batch.py: its runs (sweep points, cv folds) on a cluster that shares
no disk with the client. Only cli/batch.py calls it.

The workers may be anywhere (Kubernetes, cloud machines, a colleague's workstation), so they
never open the client's files:

- Data goes to the workers: the client loads each distinct dataset once and scatters it to
  every worker; a run trains on it through `start_session(..., dataset=...)`.
- Runs come home: a worker trains into a temporary directory of its own and returns the run's
  files (`rundir.export_run`); the client writes them under its `--out` (`rundir.import_run`),
  so a rerun skips, resumes or redoes a run exactly as on the local backend. An interrupted
  run's files travel to the worker that resumes it.
- A worker that dies mid-run does not sink the batch: Dask gives its task to another worker
  (and `retries=1` runs a task that raised once more); a task that still fails marks its run
  failed with the reason, and the rest finish. A rerun redoes it.
- The workers must run the client's mlp-trainer version: checked when connecting, and again by
  every task (for a worker that joins later).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

from cli.config import Config, table_settings
from cli.experiment import load_data
from cli.rundir import RunError, export_run, import_run, is_run
from cli.usage import UsageError
from data import Dataset

# A task that raised is run once more; one whose worker died is moved by Dask itself.
RETRIES = 1


def mlp_version() -> str:
    """The installed mlp-trainer version ("unknown" when running from an uninstalled tree)."""
    try:
        return metadata.version("mlp-trainer")
    except metadata.PackageNotFoundError:
        return "unknown"


def connect(scheduler: str) -> Any:
    """A `dask.distributed.Client` of the scheduler at `scheduler`, whose workers run this
    mlp-trainer version; UsageError with one line otherwise. Use it as a context manager."""
    try:
        from dask.distributed import Client
    except ImportError:
        raise UsageError(
            "--backend dask needs dask: pip install 'mlp-trainer[dask]' "
            "(in a clone of mlp: pip install '.[dask]')"
        ) from None
    try:
        client = Client(scheduler, timeout=10)
    except OSError as err:
        raise UsageError(f"--scheduler {scheduler}: cannot connect ({err})") from None
    try:
        check_versions(scheduler, client.run(mlp_version))
    except BaseException:
        client.close()
        raise
    return client


def check_versions(scheduler: str, found: dict[str, str]) -> None:
    """Refuse workers ({address: version}) whose mlp-trainer is not the client's."""
    mine = mlp_version()
    other = {address: v for address, v in found.items() if v != mine}
    if other:
        address, version = sorted(other.items())[0]
        raise UsageError(
            f"--scheduler {scheduler}: worker {address} runs mlp-trainer {version}, this client "
            f"{mine} ({len(other)} of {len(found)} workers differ); install "
            f"mlp-trainer=={mine} on every worker"
        )


def _check_worker(version: str) -> None:
    if mlp_version() != version:
        raise RuntimeError(f"this worker runs mlp-trainer {mlp_version()}, the client {version}")


# -- what runs on a worker --------------------------------------------------------------------


def run_task(
    version: str,
    train: Callable[..., Any],
    base: str,
    run: Any,  # cli.batch.Run
    dataset: Dataset,
    files: dict[str, bytes] | None,
) -> tuple[Any, dict[str, bytes] | None]:
    """Train (or resume) one run in a temporary directory with `train` (cli.batch.train_run):
    its outcome and the run's files. `files`: the run as the client has it (an interrupted
    run, to resume), written there first."""
    _check_worker(version)
    with tempfile.TemporaryDirectory(prefix="mlp-run-") as tmp:
        run_dir = Path(tmp) / run.name
        if files is not None:
            import_run(run_dir, files)
        outcome = train(base, run, tmp, None, dataset)
        return outcome, (export_run(run_dir) if is_run(run_dir) else None)


# -- the client side --------------------------------------------------------------------------


def _scatter_data(client: Any, configs: list[Config]) -> list[Any]:
    """Each config's dataset as a Dask future: each distinct dataset is loaded once and sent to
    every worker (so that losing one worker does not lose it), or the error loading it."""
    loaded: dict[str, Any] = {}
    futures = []
    for config in configs:
        key = repr((config.data.dataset, table_settings(config)))
        if key not in loaded:
            try:
                loaded[key] = client.scatter(load_data(config), broadcast=True)
            except Exception as err:  # a run's data error fails that run, as locally
                loaded[key] = err
        futures.append(loaded[key])
    return futures


def _as_completed(client: Any, calls: list[tuple[Callable, tuple]]) -> Iterator[tuple[int, Any]]:
    """(index, result or the exception) of each call, as they finish on the cluster."""
    from dask.distributed import as_completed

    futures = {
        client.submit(function, *args, retries=RETRIES, pure=False): index
        for index, (function, args) in enumerate(calls)
    }
    for future in as_completed(futures):
        try:
            yield futures[future], future.result()
        except Exception as err:  # the task failed twice, or its worker died too often
            yield futures[future], err
        finally:
            future.release()


def _why(err: BaseException) -> str:
    return f"on the cluster: {type(err).__name__}: {err}"


def run_all(
    client: Any,
    base: Path,
    runs: list,
    sent: dict[str, dict[str, bytes]],
    out: Path,
    train: Callable[..., Any],
) -> Iterator[tuple[Any, str, str | None]]:
    """(run, status, error) of each run (cli.batch.Run), in the order they finish on the
    cluster, its files written under `out`. `sent`: the files of the runs to resume, by name;
    `train`: what trains a run on a worker (cli.batch.train_run)."""
    version, base_text = mlp_version(), str(base.resolve())
    todo, calls = [], []
    for run, data in zip(runs, _scatter_data(client, [run.config for run in runs])):
        if isinstance(data, Exception):
            yield run, "failed", str(data)
            continue
        todo.append(run)
        files = sent.get(run.name)
        calls.append((run_task, (version, train, base_text, run, data, files)))
    for index, result in _as_completed(client, calls):
        run = todo[index]
        if isinstance(result, BaseException):
            yield run, "failed", _why(result)
            continue
        outcome, files = result
        try:
            if files is not None and files != sent.get(run.name):
                import_run(out / run.name, files)
        except (RunError, OSError) as err:  # e.g. a folder of someone else's files, a full disk
            yield run, "failed", f"bringing its run home: {err}"
            continue
        yield run, outcome.status, outcome.error
