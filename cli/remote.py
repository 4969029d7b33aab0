"""Sweep points and cross-validation folds on a Dask cluster that shares no disk with the client.

The workers may be anywhere (Kubernetes, cloud machines, a colleague's workstation), so they
never open the client's files:

- Data goes to the workers: the client loads each distinct dataset once and scatters it to
  every worker; a point or fold trains on it through `start_session(..., dataset=...)`.
- Runs come home: a worker trains into a temporary directory of its own and returns the run's
  files (`rundir.export_run`); the client writes them under its `--out` (`rundir.import_run`),
  so a rerun skips, resumes or redoes a point exactly as on the local backend. An interrupted
  point's files travel to the worker that resumes it.
- A worker that dies mid-point does not sink the sweep: Dask gives its task to another worker
  (and `retries=1` runs a task that raised once more); a task that still fails marks its point
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
from cli.rundir import RunError, export_run, import_run, inspect_run, is_run
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


def run_files(run_dir: Path) -> dict[str, bytes] | None:
    """The files of the run in `run_dir` to send to a worker, or None for no run there."""
    return export_run(run_dir) if is_run(run_dir) else None


# -- what runs on a worker --------------------------------------------------------------------


def point_task(
    version: str,
    base: str,
    point: Any,  # cli.sweep.ResolvedPoint
    dataset: Dataset,
    runs: dict[str, dict[str, bytes]],
    cv: int | None,
) -> tuple[dict, dict[str, dict[str, bytes]]]:
    """Train (or resume) one sweep point in a temporary directory: its outcome, and the files
    of each run it holds by the name of its folder (`<id>` or `<id>-cvK/fold-N`). `runs`: the
    point's runs that the client already has, written there first. The outcome: run_point's
    row, or with `cv` {"folds": each fold's row} or {"error": why the folds were not drawn}."""
    from cli.cv import run_all_folds
    from cli.sweep import run_point

    _check_worker(version)
    with tempfile.TemporaryDirectory(prefix="mlp-point-") as tmp:
        out = Path(tmp)
        for name, files in runs.items():
            import_run(out / name, files)
        if cv is None:
            row = run_point(base, point, tmp, None, None, dataset)
        else:
            try:
                point_dir = out / f"{point.id}-cv{cv}"
                row = {"folds": run_all_folds(Path(base), point.config, cv, point_dir, dataset)}
            except Exception as err:  # the folds could not even be drawn
                row = {"error": str(err)}
        found = {}
        for run_dir in [out / point.id, *sorted(out.glob(f"{point.id}-cv*/fold-*"))]:
            if is_run(run_dir):
                found[str(run_dir.relative_to(out))] = export_run(run_dir)
        return row, found


def fold_task(
    version: str, base: str, config: Config, number: int, split: dict, dataset: Dataset
) -> tuple[dict, dict[str, bytes] | None]:
    """Train one cross-validation fold in a temporary directory: its row and its run's files."""
    from cli.cv import fold_dir, run_fold

    _check_worker(version)
    with tempfile.TemporaryDirectory(prefix="mlp-fold-") as tmp:
        row = run_fold(base, config, number, split, tmp, None, dataset)
        return row, run_files(fold_dir(Path(tmp), number))


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
            except Exception as err:  # a point's data error fails that point, as locally
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


def _failed(point: Any, out: Path, cv: int | None, why: str) -> dict:
    """The row of a point that did not run to an outcome of its own."""
    from cli.sweep import cv_row, result_row

    if cv is None:
        row = result_row(point, out / point.id, "failed", why)
    else:
        row = {**cv_row(point, out / f"{point.id}-cv{cv}", []), "status": "failed", "error": why}
    return {**row, "skipped": False}


def run_points(client: Any, base: Path, points: list, out: Path, cv: int | None) -> Iterator[dict]:
    """Each sweep point's row (cli.sweep.run_point's), in the order they finish on the
    cluster, its runs written under `out`. A point complete under `out` is skipped here."""
    from cli.sweep import cv_row, result_row

    version, base_text = mlp_version(), str(base.resolve())
    todo, calls = [], []
    for point, data in zip(points, _scatter_data(client, [p.config for p in points])):
        run_dir = out / point.id
        if cv is None and is_run(run_dir) and inspect_run(run_dir).status == "completed":
            yield {**result_row(point, run_dir, "completed"), "skipped": True}
            continue
        if isinstance(data, Exception):
            yield _failed(point, out, cv, str(data))
            continue
        runs = {}
        if cv is None:
            files = run_files(run_dir) if is_run(run_dir) else None
            if files is not None and inspect_run(run_dir).status == "interrupted":
                runs[point.id] = files  # resumed on the worker
        else:
            for fold in sorted((out / f"{point.id}-cv{cv}").glob("fold-*")):
                if is_run(fold) and inspect_run(fold).status == "completed":
                    runs[str(fold.relative_to(out))] = export_run(fold)  # kept there
        todo.append((point, runs))
        calls.append((point_task, (version, base_text, point, data, runs, cv)))
    for index, result in _as_completed(client, calls):
        point, sent = todo[index]
        point_dir = out / (point.id if cv is None else f"{point.id}-cv{cv}")
        if isinstance(result, BaseException):
            yield _failed(point, out, cv, _why(result))
            continue
        row, runs = result
        try:
            for name, files in runs.items():
                if sent.get(name) != files:
                    import_run(out / name, files)
        except (RunError, OSError) as err:  # e.g. a folder of someone else's files, a full disk
            yield _failed(point, out, cv, f"bringing its run home: {err}")
            continue
        if cv is None:
            yield {**result_row(point, point_dir, row["status"], row["error"]), "skipped": False}
        else:
            from cli.cv import fold_dir, fold_row

            if "error" in row:
                yield _failed(point, out, cv, row["error"])
                continue
            folds = [
                fold_row(f["fold"], fold_dir(point_dir, f["fold"]), f["status"], f["error"])
                for f in row["folds"]
            ]
            yield {**cv_row(point, point_dir, folds), "skipped": False}


def run_folds(
    client: Any, base: Path, config: Config, splits: dict[int, dict], out: Path
) -> Iterator[dict]:
    """Each fold's row (cli.cv.run_fold's), in the order they finish on the cluster, its run
    written under `out`; `splits`: {fold number: its split} of the folds to train."""
    from cli.cv import fold_dir, fold_row

    version, base_text = mlp_version(), str(base.resolve())
    [data] = _scatter_data(client, [config])
    if isinstance(data, Exception):
        raise data
    numbers = list(splits)
    calls = [
        (fold_task, (version, base_text, config, number, splits[number], data))
        for number in numbers
    ]
    for index, result in _as_completed(client, calls):
        number = numbers[index]
        run_dir = fold_dir(out, number)
        if isinstance(result, BaseException):
            yield fold_row(number, run_dir, "failed", _why(result))
            continue
        row, files = result
        try:
            if files is not None:
                import_run(run_dir, files)
        except (RunError, OSError) as err:
            yield fold_row(number, run_dir, "failed", f"bringing its run home: {err}")
            continue
        yield fold_row(number, run_dir, row["status"], row["error"])
