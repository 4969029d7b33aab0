"""What each command reports, as plain data and lines: built here, shown by `cli/app.py` (through
`cli/render.py`, or as JSON). The commands parse, call and render; nothing here prints.
"""

from __future__ import annotations

import dataclasses
import shlex
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from cli.experiment import architecture
from data import DATASETS
from mlp.evaluation import class_scores, confusion_matrix, regression_errors
from mlp.heads import squared_error
from mlp.schedules import DEFAULT_SCHEDULE

if TYPE_CHECKING:
    from cli.session import Session


def train_header(session: Session) -> list[tuple]:
    """The rows shown before training starts."""
    config, data, model = session.config, session.data, session.model
    ds = data.dataset
    sizes = ", ".join(f"{len(y)} {name}" for name, (_, y) in data.parts.items())
    opt = config.train.optimizer
    settings = ", ".join(f"{k}={v}" for k, v in dataclasses.asdict(opt).items())
    extras = []
    schedule, stopping = config.train.lr_schedule, config.train.early_stopping
    if schedule.name != DEFAULT_SCHEDULE:
        details = ", ".join(f"{k}={v}" for k, v in dataclasses.asdict(schedule).items())
        extras.append(("lr schedule", f"{schedule.name}: {details}"))
    if stopping is not None:
        details = ", ".join(f"{k}={v}" for k, v in dataclasses.asdict(stopping).items())
        extras.append(("early stop", details))
    extras += [("note", note) for note in config.notes]
    columns = []
    if data.preprocessor is not None and ds.roles is not None:
        roles = ds.roles
        named = ", ".join(repr(name) for name in roles.target_columns)
        label = ("target " if ds.task == "regression" else "label ") + named
        label += f", id {roles.id!r}" if roles.id else ""
        if ds.table is not None and roles.id is not None and roles.id == ds.table.rownames:
            label += " (the row names: the first column, unnamed in the header)"
        if ds.table is not None and ds.table.decimal == ",":
            extras.append(("note", "numbers read with decimal commas (data.decimal)"))
        if ds.n_dropped and ds.task != "regression":  # a regression's: a note on stderr
            label += f", {ds.n_dropped} rows without a label left out"
        columns = [("columns", f"{label}; {data.preprocessor.describe()}")]
    outputs, scaled = f"{ds.n_classes} classes", f"standardised: {config.data.standardize}"
    if ds.task == "regression":
        outputs = "target " + ", ".join(repr(str(name)) for name in ds.classes.tolist())
        scaled += f", target standardised: {config.data.standardize_target}"
    return [
        ("config", str(session.config_path)),
        ("task", task_text(config.task, ds.task, None if ds.table is not None else ds.name)),
        (
            "data",
            f"{ds.name}: {ds.n_samples} samples x {ds.n_features} features, "
            f"{outputs} ({sizes}; {scaled})",
        ),
        *columns,
        (
            "model",
            f"{architecture(model.layer_sizes)}, {model.n_params:,} parameters "
            f"({config.model.activation}, {config.model.dtype})",
        ),
        ("optimizer", f"{opt.name}: {settings}"),
        *([("threads", session.threads.describe())] if session.threads else []),
        (
            "training",
            f"{config.train.epochs} epochs, batch {config.train.batch_size}, "
            f"weight decay {config.train.weight_decay}, shuffle {config.train.shuffle}, "
            f"seed {config.seed}",
        ),
        *extras,
    ]


def task_text(asked: str, task: str, bundled: str | None) -> str:
    """The header's task line: what was chosen, why, and the key that overrides it (a
    bundled set's task is its own)."""
    if asked == task:
        return f"{task} (set by task: {task})"
    if bundled is not None:
        return f"{task} (task: auto; {bundled} is a {task} set)"
    other = "classification" if task == "regression" else "regression"
    why = "non-integer numbers" if task == "regression" else "labels"
    return f"{task} (task: auto: the target holds {why}; set task: {other} to override)"


def headline(final: dict[str, dict]) -> tuple[str, dict]:
    """The split a run is judged by: test if there is one, else val, else train."""
    for name in ("test", "val", "train"):
        if name in final:
            return name, final[name]
    raise AssertionError("a run always has a training split")


def continue_command(
    name: str, config_path: Path, overrides, options: tuple[str, ...], out: Path
) -> str:
    """The command line that continues an interrupted sweep or cv in the same folder."""
    words = ["mlp", name, "--config", str(config_path), *options, "--out", str(out)]
    for override in overrides or ():
        words += ["--set", override]
    return shlex.join(words)


def cv_line(result: dict, folds: int, out: Path) -> str:
    """`mlp cv --quiet`'s one line."""
    if result["mean"] is None:
        return f"no fold of {folds} completed; in {out}"
    score = "R²" if result.get("score") == "r2" else "accuracy"
    return (
        f"mean {score} {result['mean']:.4f} +- {result['std']:.4f} (loss "
        f"{result['loss_mean']:.4f}) over {folds} folds; in {out}"
    )


def train_line(summary: dict, run_dir: Path) -> str:
    """`mlp train`'s last line: the headline split's score (accuracy, or R²) and loss, and
    where it is."""
    split, figures = headline(summary["final"])
    score = summary.get("score", "accuracy")
    named = "R²" if score == "r2" else score
    return (
        f"{split} {named} {figures[score]:.4f} (loss {figures['loss']:.4f}) "
        f"after {summary['epochs']} epochs in {summary['wall_seconds']:.1f}s; "
        f"saved to {run_dir}"
    )


def eval_rows(report: dict, rows, network: str) -> list[tuple[str, str]]:
    """The key-value lines above eval's tables."""
    return [
        ("run", report["run"]),
        ("model", network),
        ("data", rows.data),
        ("split", f"{rows.split} ({rows_text(rows)})"),
        ("loss", f"{report['loss']:.4f}"),
        ("accuracy", f"{report['accuracy']:.4f}"),
        ("balanced accuracy", f"{report['balanced_accuracy']:.4f}"),
        ("macro F1", f"{report['macro_f1']:.4f}"),
        *baseline_row(report["baseline_accuracy"]),
    ]


def recorded_diagnoses(summary: dict) -> list[dict]:
    """The diagnoses a completed run's summary.json records, read without trusting it: only
    entries with a rule, an epoch and a message (older runs have none)."""
    found = summary.get("diagnoses")
    if not isinstance(found, list):
        return []
    return [
        d
        for d in found
        if isinstance(d, dict)
        and isinstance(d.get("rule"), str)
        and isinstance(d.get("epoch"), int)
        and isinstance(d.get("message"), str)
    ]


def diagnosis_lines(diagnoses: list[dict] | None) -> list[str]:
    """'diagnosis (epoch 25): overfitting: ...: add ...', one line per rule that fired."""
    lines = []
    for d in diagnoses or []:
        layer = f", layer {d['layer']}" if d.get("layer") is not None else ""
        lines.append(f"diagnosis (epoch {d['epoch']}{layer}): {d['message']}")
    return lines


def sweep_line(ranked: list[dict], best: dict | None, out: Path) -> str:
    """`mlp sweep --quiet`'s one line: the winner, or that no point completed."""
    if best is None:
        return f"no point of {len(ranked)} completed; see {out / 'results.jsonl'}"
    return (
        f"best of {len(ranked)} points: {best['id']} {best['overrides']}; "
        f"config in {out / 'best.yaml'}"
    )


def failed_folds_line(failed: list[dict], folds: int) -> str:
    """The error line of a cv some of whose folds failed, with the first one's message."""
    first = failed[0]
    return f"error: {len(failed)} of {folds} folds failed; fold {first['fold']}: {first['error']}"


def rows_text(rows) -> str:
    """'252 samples', or '252 samples scored of 270 read, 18 without a label'."""
    text = f"{len(rows.y)} samples"
    if rows.n_unlabelled:
        text += f" scored of {rows.n_read} read, {rows.n_unlabelled} without a label"
    return text


def baseline_row(baseline: float | None) -> list[tuple[str, str]]:
    """The majority baseline's line, where the run recorded its training classes."""
    if baseline is None:
        return []
    return [("baseline", f"{baseline:.4f} (always the most frequent training class)")]


def scores_report(checkpoint, result, y: np.ndarray, train_counts: list | None = None) -> dict:
    """Loss, accuracy, balanced accuracy, macro F1, the majority baseline (from the run's
    training class counts, None for a run that did not record them), confusion matrix and
    per-class precision, recall, F1 and support."""
    classes = checkpoint.classes.tolist()
    matrix = confusion_matrix(y, result.predictions, len(classes))
    scores = class_scores(matrix)
    per_class = [
        {
            "class": classes[k],
            "precision": float(scores.precision[k]),
            "recall": float(scores.recall[k]),
            "f1": float(scores.f1[k]),
            "support": int(scores.support[k]),
        }
        for k in range(len(classes))
    ]
    baseline = None
    if train_counts and len(train_counts) == len(classes):
        # the class a model that learned nothing would always predict: argmax takes the first
        # of a tie, as scikit-learn's DummyClassifier(strategy="most_frequent") does
        baseline = float(np.mean(y == int(np.argmax(train_counts))))
    return {
        "loss": result.loss,
        "accuracy": result.accuracy,
        "balanced_accuracy": result.balanced_accuracy,
        "macro_f1": result.macro_f1,
        "baseline_accuracy": baseline,
        "n": result.n_samples,
        "classes": classes,
        "confusion_matrix": matrix.tolist(),
        "per_class": per_class,
    }


def regression_report(checkpoint, rows_y: np.ndarray, values: np.ndarray, data: dict) -> dict:
    """A regression's MSE, RMSE, MAE and R^2 in the targets' own units, averaged over the
    targets and per target, with `baseline_r2` (always predicting the training mean the run
    recorded in data.json; None for a run without it) and the loss as training measured it
    (on the standardised targets, when the run standardised them)."""
    reference = data.get("train_target_mean")
    targets = [str(name) for name in checkpoint.classes.tolist()]
    if not (isinstance(reference, list) and len(reference) == len(targets)):
        reference = None
    result = regression_errors(rows_y, values, None if reference is None else np.asarray(reference))
    scaled = checkpoint.to_standard_units
    loss = squared_error(scaled(values), scaled(rows_y))
    per_target = [
        {
            "target": name,
            "mse": float(result.mse[t]),
            "rmse": float(result.rmse[t]),
            "mae": float(result.mae[t]),
            "r2": float(result.r2[t]),
            "baseline_r2": None if reference is None else float(result.baseline_r2[t]),
        }
        for t, name in enumerate(targets)
    ]
    return {
        "task": "regression",
        "loss": loss,
        "mse": float(result.mse.mean()),
        "rmse": float(result.rmse.mean()),
        "mae": float(result.mae.mean()),
        "r2": float(result.r2.mean()),
        "baseline_r2": None if reference is None else float(result.baseline_r2.mean()),
        "n": result.n_samples,
        "targets": targets,
        "per_target": per_target,
    }


def regression_rows(report: dict, rows, network: str) -> list[tuple[str, str]]:
    """The key-value lines above a regression's per-target table."""
    baseline = report["baseline_r2"]
    return [
        ("run", report["run"]),
        ("model", network),
        ("data", rows.data),
        ("split", f"{rows.split} ({rows_text(rows)})"),
        ("loss", f"{report['loss']:.4f} (squared error, as trained)"),
        ("R²", f"{report['r2']:.4f}"),
        ("RMSE", f"{report['rmse']:.4g}"),
        ("MAE", f"{report['mae']:.4g}"),
        ("MSE", f"{report['mse']:.4g}"),
        *(
            [("baseline R²", f"{baseline:.4f} (always the training mean)")]
            if baseline is not None
            else []
        ),
    ]


def gradcheck_report(results, architecture_text: str, samples: int, eps: float, tol: float):
    """`mlp gradcheck --json`: every array's worst entry, and the verdict."""
    arrays = [
        {
            "name": r.name,
            "shape": list(r.shape),
            "checked": r.n_checked,
            "max_rel_error": r.max_rel_error,
            "where": list(r.worst_index),
            "analytic": r.analytic,
            "numerical": r.numerical,
            "passed": r.max_rel_error <= tol,
        }
        for r in results
    ]
    passed = all(a["passed"] for a in arrays)
    return {
        "arrays": arrays,
        "architecture": architecture_text,
        "samples": samples,
        "eps": eps,
        "tolerance": tol,
        "passed": passed,
    }


def dataset_rows() -> list[dict]:
    """`mlp datasets`: each bundled set's task and size, from the registry (nothing is
    loaded); a regression has no classes but `targets`, its target columns."""
    return [
        {
            "name": info.name,
            "task": info.task,
            "samples": info.n_samples,
            "features": info.n_features,
            "classes": info.n_classes if info.task == "classification" else None,
            "targets": info.n_classes if info.task == "regression" else None,
            "description": info.description,
        }
        for info in DATASETS.values()
    ]


def dataset_detail(name: str) -> dict:
    """`mlp datasets NAME`: the set's feature columns (the names predict matches) and classes."""
    dataset = DATASETS[name].load()
    return {
        "name": name,
        "task": DATASETS[name].task,
        "description": DATASETS[name].description,
        "samples": dataset.n_samples,
        "features": list(dataset.feature_names),
        "classes": dataset.classes.tolist(),
    }


def export_line(report: dict) -> str:
    """`mlp export`'s line: the file, its size and opset, its inputs and its outputs."""
    width = len(report["classes"])
    outputs = f"outputs 'probabilities' N x {width} and 'label'"
    if report["task"] == "regression":
        outputs = f"output 'prediction' N x {width} (in the targets' units)"
    return (
        f"wrote {report['onnx']} ({report['bytes']:,} bytes, ONNX opset {report['opset']}): "
        f"{graph_inputs_text(report)}, {outputs}"
    )


def graph_inputs_text(report: dict) -> str:
    """`mlp export`'s words for the graph's inputs: one `input` matrix, or one per column."""
    inputs = report["graph_inputs"]
    if len(inputs) == 1 and inputs[0]["name"] == "input":
        return f"input 'input' float32 N x {len(report['inputs'])}"
    shown = ", ".join(f"{i['name']!r} {i['type']}" for i in inputs[:5])
    more = ", ..." if len(inputs) > 5 else ""
    return f"{len(inputs)} inputs, one per column ({shown}{more}; N x 1 each)"
