"""One row of `mlp runs`: a run's settings and figures, read without trusting any file."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import yaml

from cli.rundir import (
    RunError,
    RunState,
    best_validation,
    inspect_run,
    is_run,
    read_data_record,
    read_state,
    score_of,
)
from cli.yamlsafe import safe_load
from mlp import CheckpointError


def runs_in(folder: Path) -> list[Path]:
    """The runs in `folder`, and in its subfolders that are not runs themselves (a
    cross-validation's `fold-k`, a cross-validated sweep point's `<id>-cvK/fold-k`)."""
    found = []
    for entry in sorted(folder.iterdir()):
        if not entry.is_dir():
            continue
        if is_run(entry):
            found.append(entry)
        else:
            found += [sub for sub in sorted(entry.iterdir()) if sub.is_dir() and is_run(sub)]
    return found


def run_row(run_dir: Path, name: str | None = None) -> dict:
    """The run's row (named `name`, or its folder's name); a damaged run still gets one, with
    its status and the reason."""
    state = inspect_run(run_dir)
    config: dict = {}
    if state.config_text is not None:
        try:
            loaded = safe_load(state.config_text)
        except yaml.YAMLError:
            loaded = None
        config = loaded if isinstance(loaded, dict) else {}
    data, model, train = (_section(config, key) for key in ("data", "model", "train"))
    optimizer = _section(train, "optimizer")
    summary = state.summary or {}
    score = score_of(summary, state.metrics)  # accuracy, or a regression's r2
    best, _ = best_validation(state.metrics, score)
    test = _section(_section(summary, "final"), "test").get(score)
    test = test if isinstance(test, float) else None
    # a classifier's figures under their own names, and a regression's beside them
    scores = {"best_val_accuracy": None, "test_accuracy": None}
    scores |= {f"best_val_{score}": best, f"test_{score}": test}
    started, saved = recorded_times(run_dir, state)
    record = _data_record(run_dir)
    problem = state.problem if state.status in ("damaged", "running") else state.pending
    return {
        "name": name or run_dir.name,
        "dataset": Path(str(data.get("dataset"))).name,
        "architecture": summary.get("architecture") or _architecture(record, model),
        "optimizer": f"{optimizer.get('name')} lr={optimizer.get('lr')}",
        "epochs": len(state.metrics),
        "task": "regression" if score == "r2" else "classification",
        **scores,
        "date": _shown(saved or started),
        "started": started,
        "saved": saved,
        "status": state.status,
        "problem": problem,
    }


def recorded_times(run_dir: Path, state: RunState) -> tuple[str | None, str | None]:
    """When the run started and when it last saved, as it recorded them (ISO 8601), never the
    file times (a copied run keeps its dates); None where a file does not say."""
    summary = state.summary or {}
    started = summary.get("started") or _data_record(run_dir).get("started")
    saved = summary.get("saved")
    if saved is None and state.status not in ("damaged", "running"):
        try:
            training = read_state(run_dir)
        except (RunError, CheckpointError):
            training = None
        saved = training.info.get("saved") if training is not None else None
    return (
        started if isinstance(started, str) else None,
        saved if isinstance(saved, str) else None,
    )


def _shown(stamp: str | None) -> str | None:
    """'2026-12-06 14:05:09' in this machine's time zone, from an ISO 8601 time."""
    if stamp is None:
        return None
    try:
        return datetime.fromisoformat(stamp).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None


def _data_record(run_dir: Path) -> dict:
    try:
        return read_data_record(run_dir)
    except RunError:
        return {}


def _architecture(record: dict, model: dict) -> str:
    """'4 -> 16 -> 3' from the recorded input width and classes and the config's hidden sizes,
    as a completed run's summary says it; '? -> 16 -> ?' where the data record does not say."""
    hidden = model.get("hidden") if isinstance(model.get("hidden"), list) else []
    classes = record.get("classes")
    inputs = record.get("inputs")
    sizes = [
        str(inputs) if isinstance(inputs, int) else "?",
        *map(str, hidden),
        str(len(classes)) if isinstance(classes, list) else "?",
    ]
    return " -> ".join(sizes)


def _section(mapping: dict, key: str) -> dict:
    value = mapping.get(key)
    return value if isinstance(value, dict) else {}


# The columns of `mlp runs`, in order; numbers sort best first, text in order.
RUN_COLUMNS = (
    "name",
    "dataset",
    "architecture",
    "optimizer",
    "epochs",
    "best_val_accuracy",
    "test_accuracy",
    "date",
    "status",
)
# A regression's R² columns sort too (shown in the accuracy columns, marked R²).
SORT_COLUMNS = (*RUN_COLUMNS, "best_val_r2", "test_r2")
DESCENDING = ("epochs", "best_val_accuracy", "test_accuracy", "best_val_r2", "test_r2", "date")


def sorted_runs(rows: list[dict], column: str) -> list[dict]:
    """The rows by `column`: numbers and dates descending (best, newest first), text
    ascending, and rows missing the value last."""
    present = sorted((r for r in rows if r.get(column) is not None), key=lambda r: r[column])
    missing = [r for r in rows if r.get(column) is None]
    return (present[::-1] if column in DESCENDING else present) + missing
