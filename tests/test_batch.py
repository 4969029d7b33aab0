"""cli/batch.py: the one module that brings a list of runs to completed, and the rules that keep
it the only one (joblib and Dask nowhere else, no import cycle, short functions)."""

import ast
from pathlib import Path

import numpy as np
import pytest

from cli import batch, sweep
from cli.config import load_config

CLI = Path(__file__).resolve().parent.parent / "cli"
BATCH_MODULES = ("batch", "remote", "sweep", "cv")


def imported_modules(path: Path) -> set[str]:
    """Every module `path` imports, at the top or inside a function, as dotted names
    (`from cli import batch` counts as cli.batch)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def cli_modules() -> dict[str, set[str]]:
    """cli's modules by name, each with the cli modules it imports."""
    modules = {path.stem: imported_modules(path) for path in CLI.glob("*.py")}
    return {
        name: {dep.split(".")[1] for dep in deps if dep.startswith("cli.")} & modules.keys()
        for name, deps in modules.items()
    }


def test_only_batch_and_its_dask_backend_import_joblib_or_dask():
    knowing = {
        path.stem
        for path in CLI.glob("*.py")
        if any(dep.split(".")[0] in ("joblib", "dask") for dep in imported_modules(path))
    }
    assert knowing == {"batch", "remote"}
    # and only batch calls the Dask backend
    assert {name for name, deps in cli_modules().items() if "remote" in deps} == {"batch"}


def test_no_import_cycle_runs_through_the_batch_modules():
    graph = cli_modules()
    for start in BATCH_MODULES:
        seen, todo = set(), list(graph[start])
        while todo:
            module = todo.pop()
            assert module != start, f"cli.{start} is on an import cycle: it reaches itself again"
            if module not in seen:
                seen.add(module)
                todo.extend(graph[module])


def test_the_batch_modules_have_no_function_over_60_lines():
    for name in BATCH_MODULES:
        tree = ast.parse((CLI / f"{name}.py").read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                assert length <= 60, f"cli/{name}.py: {node.name} is {length} lines"


def test_folders_are_named_as_the_readme_lays_them_out():
    assert batch.point_name("003-1a2b3c4d") == "003-1a2b3c4d"
    assert batch.fold_name(2) == "fold-2"
    assert batch.cv_point_name("003-1a2b3c4d", 5) == "003-1a2b3c4d-cv5"
    assert batch.cv_fold_name("003-1a2b3c4d", 5, 2) == "003-1a2b3c4d-cv5/fold-2"


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(
        "seed: 1\n"
        "data: {dataset: iris, test_size: 0.2, val_size: 0.1}\n"
        "model: {hidden: [4]}\n"
        "train: {epochs: 2, batch_size: 32, optimizer: {name: sgd, lr: 0.1}}\n"
    )
    return path


def test_a_completed_run_is_kept_and_a_fold_of_another_split_is_redone(tiny, tmp_path):
    config = load_config(tiny)
    split = {"train": np.arange(0, 100), "test": np.arange(100, 150)}
    runs = [batch.Run("plain", config), batch.Run("fold-1", config, split)]
    out = tmp_path / "out"
    first = {o.name: o for o in batch.run_all(tiny, runs, out, n_jobs=1)}
    assert {(o.status, o.skipped) for o in first.values()} == {("completed", False)}
    kept = {name: (out / name / "model.npz").stat().st_mtime_ns for name in first}

    again = {o.name: o for o in batch.run_all(tiny, runs, out, n_jobs=1)}
    assert {(o.status, o.skipped) for o in again.values()} == {("completed", True)}
    assert {name: (out / name / "model.npz").stat().st_mtime_ns for name in again} == kept

    other = {"train": np.arange(50, 150), "test": np.arange(0, 50)}
    [redone] = batch.run_all(tiny, [batch.Run("fold-1", config, other)], out, n_jobs=1)
    assert (redone.status, redone.skipped) == ("completed", False)
    with np.load(out / "fold-1" / "split.npz") as saved:
        assert np.array_equal(saved["test"], other["test"])


def test_sweep_cv_puts_every_fold_of_every_point_in_one_batch(tiny, tmp_path, monkeypatch):
    grid = tmp_path / "grid.yaml"
    grid.write_text("train.optimizer.lr: [0.1, 0.2]\n")
    points = sweep.resolve_points(tiny, grid, sweep.load_grid(grid, 1))
    calls = []

    def fake_run_all(base, runs, out, n_jobs, client=None, threads=1):
        calls.append([run.name for run in runs])
        return iter([batch.Outcome(run.name, "failed", "not trained") for run in runs])

    monkeypatch.setattr(batch, "run_all", fake_run_all)
    rows = list(sweep.run_points(tiny, points, tmp_path / "out", n_jobs=2, cv=3))
    assert calls == [[f"{p.id}-cv3/fold-{k}" for p in points for k in (1, 2, 3)]]
    assert sorted(row["id"] for row in rows) == sorted(p.id for p in points)
    assert {row["error"] for row in rows} == {"fold 1: not trained"}
