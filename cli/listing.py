"""One row of `mlp runs`: a run's settings and figures, read without trusting any file."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import yaml

from cli.rundir import best_validation, inspect_run
from cli.yamlsafe import safe_load


def run_row(run_dir: Path) -> dict:
    """The run's row; a damaged run still gets one, with its status and the reason."""
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
    best_accuracy, _ = best_validation(state.metrics)
    test = _section(_section(summary, "final"), "test").get("accuracy")
    stamp = datetime.fromtimestamp(run_dir.stat().st_mtime)
    problem = state.problem if state.status in ("damaged", "running") else state.pending
    return {
        "name": run_dir.name,
        "dataset": Path(str(data.get("dataset"))).name,
        "architecture": summary.get("architecture") or f"hidden {model.get('hidden')}",
        "optimizer": f"{optimizer.get('name')} lr={optimizer.get('lr')}",
        "epochs": len(state.metrics),
        "best_val_accuracy": best_accuracy,
        "test_accuracy": test if isinstance(test, float) else None,
        "date": stamp.strftime("%Y-%m-%d %H:%M:%S"),
        "status": state.status,
        "problem": problem,
    }


def _section(mapping: dict, key: str) -> dict:
    value = mapping.get(key)
    return value if isinstance(value, dict) else {}
