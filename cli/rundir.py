"""The run directory: where `mlp train` puts a run and where `mlp eval` finds it.

model.npz       the trained network (the core's checkpoint format)
config.yaml     the resolved config: every default filled in
metrics.jsonl   one JSON object per epoch
summary.json    final figures; written last, so a run without it never looks complete
"""

from __future__ import annotations

import json
import os
import re
from datetime import datetime
from pathlib import Path

from mlp.checkpoint import atomic_write

MODEL_FILE = "model.npz"
CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.jsonl"
SUMMARY_FILE = "summary.json"
RESUME_FILE = "resume.npz"
RUN_FILES = (MODEL_FILE, CONFIG_FILE, METRICS_FILE, SUMMARY_FILE, RESUME_FILE)
DEFAULT_ROOT = Path("runs")
# atomic_write's temporary files: ".model.npz.<random>.tmp" beside model.npz, and so on
_TEMPORARY = re.compile(r"^\.(" + "|".join(map(re.escape, RUN_FILES)) + r")\.\w+\.tmp$")


class RunError(Exception):
    """A run directory that cannot be used as asked; one line naming it."""


def write_text(path: Path, text: str) -> None:
    """Replace `path` with `text` atomically."""
    atomic_write(path, lambda file: file.write(text.encode("utf-8")))


def write_json(path: Path, obj: object) -> None:
    """Replace `path` with `obj` as indented JSON, atomically."""
    write_text(path, json.dumps(obj, indent=2) + "\n")


def new_default_run(name: str, root: Path = DEFAULT_ROOT) -> Path:
    """Create `root/<name>-<timestamp>/`, never one that another process has just created.

    `os.mkdir` fails if the directory exists, so two runs started in the same second get
    different directories (`-2`, `-3`, ...) instead of writing into one.
    """
    root.mkdir(parents=True, exist_ok=True)
    stem = f"{name}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    for attempt in range(1, 1000):
        path = root / (stem if attempt == 1 else f"{stem}-{attempt}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path
    raise RunError(f"{root}: could not create a new run directory for {stem}")


def check_out_dir(out: Path, overwrite: bool) -> None:
    """Refuse an existing run at `out` unless `overwrite`, and never overwrite a foreign folder."""
    if out.exists() and not out.is_dir():
        raise RunError(f"--out {out}: exists and is not a directory")
    if not out.is_dir():
        return
    entries = {entry.name for entry in out.iterdir()}
    if not entries:
        return
    ours = {name for name in entries if is_run_file(name)}
    if not overwrite:
        what = "a run" if ours else "files"
        raise RunError(f"--out {out}: already holds {what}; pass --overwrite to replace it")
    foreign = sorted(entries - ours)
    if foreign:
        raise RunError(
            f"--out {out}: not an mlp run directory (it holds {', '.join(foreign[:3])}); "
            "refusing to overwrite it"
        )


def open_out_dir(out: Path, overwrite: bool) -> Path:
    """Make `out` ready for a new run: create it, or clear the previous run's files."""
    check_out_dir(out, overwrite)
    out.mkdir(parents=True, exist_ok=True)
    # The summary goes first: from this moment the old run no longer looks complete.
    for name in (SUMMARY_FILE, *RUN_FILES):
        (out / name).unlink(missing_ok=True)
    remove_stale_temporaries(out)
    return out


def is_run_file(name: str) -> bool:
    """One of a run's files, or a temporary one of them left by a process killed mid-write."""
    return name in RUN_FILES or bool(_TEMPORARY.match(name))


def remove_stale_temporaries(run_dir: Path) -> None:
    """Delete the half-written files a killed process (SIGKILL, power loss) leaves behind."""
    for entry in run_dir.iterdir():
        if _TEMPORARY.match(entry.name):
            entry.unlink(missing_ok=True)


def append_metrics(path: Path, record: dict) -> None:
    """Append one epoch's record as a JSON line, written with a single write call."""
    line = (json.dumps(record) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def read_metrics(path: Path) -> list[dict]:
    """The records of metrics.jsonl; a line cut short by a crash (the last) is left out."""
    if not path.is_file():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            break
    return records


def best_validation(records: list[dict]) -> tuple[float | None, float | None]:
    """The best validation accuracy and loss of a run's epochs (None without a val split)."""
    accuracy = [r["val_accuracy"] for r in records if r.get("val_accuracy") is not None]
    loss = [r["val_loss"] for r in records if r.get("val_loss") is not None]
    return (max(accuracy) if accuracy else None), (min(loss) if loss else None)


def write_metrics(path: Path, records: list[dict]) -> None:
    """Replace metrics.jsonl with exactly these records, atomically."""
    write_text(path, "".join(json.dumps(record) + "\n" for record in records))


def locate_run(run: Path) -> tuple[Path, Path]:
    """(run directory, model file) for RUN given as a run directory or its model.npz."""
    if run.is_dir():
        run_dir, model = run, run / MODEL_FILE
    elif run.suffix == ".npz":
        run_dir, model = run.parent, run
    else:
        raise RunError(f"{run}: not a run directory or a .npz model")
    if not model.is_file():
        raise RunError(f"{run}: no {MODEL_FILE} here; is it a finished `mlp train` run?")
    if not (run_dir / CONFIG_FILE).is_file():
        raise RunError(f"{run_dir}: no {CONFIG_FILE} beside the model; cannot rebuild its data")
    return run_dir, model


def describe_run(run_dir: Path) -> dict | None:
    """One row of `mlp runs`, or None if `run_dir` is not a run."""
    import yaml

    config_path = run_dir / CONFIG_FILE
    if not config_path.is_file():
        return None
    try:
        config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
        summary = json.loads((run_dir / SUMMARY_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        summary = None
    except (OSError, ValueError, yaml.YAMLError):
        return None
    if not isinstance(config, dict):
        return None
    records = read_metrics(run_dir / METRICS_FILE)
    best_accuracy, _ = best_validation(records)
    data, model, train = config.get("data", {}), config.get("model", {}), config.get("train", {})
    optimizer = train.get("optimizer", {})
    status = "completed" if summary else _stopped_status(run_dir)
    test = (summary or {}).get("final", {}).get("test", {}).get("accuracy")
    return {
        "name": run_dir.name,
        "dataset": str(data.get("dataset")),
        "architecture": (summary or {}).get("architecture") or "hidden " + str(model.get("hidden")),
        "optimizer": f"{optimizer.get('name')} lr={optimizer.get('lr')}",
        "epochs": len(records),
        "best_val_accuracy": best_accuracy,
        "test_accuracy": test,
        "date": datetime.fromtimestamp(config_path.stat().st_mtime).strftime("%Y-%m-%d %H:%M:%S"),
        "status": status,
    }


def _stopped_status(run_dir: Path) -> str:
    """From resume.npz: 'interrupted', 'failed', or 'running' (still, or killed since its last
    autosave); 'incomplete' when there is none yet."""
    from mlp.checkpoint import CheckpointError, load_training_state

    try:
        return str(load_training_state(run_dir / RESUME_FILE).info.get("status", "incomplete"))
    except CheckpointError:
        return "incomplete"
