"""The `mlp` command: one small function per command that parses, calls the library, renders."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import sys
import warnings
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from cli import output, render, reports, rundir, scoring
from cli.config import load_config, loads_config
from cli.errors import BAD_INPUT, FAILED, describe_os_error, fail, reported, user_errors
from cli.experiment import architecture, build_model, load_data, prepare_data, sample_weights
from cli.helpflags import FlagHelpCommand, FlagHelpGroup
from cli.listing import RUN_COLUMNS, SORT_COLUMNS
from cli.output import error_console
from cli.process import Terminated, reopen_closed_streams, report_stop, stop_on_sigterm
from cli.rundir import DEFAULT_ROOT, RunError
from cli.session import Interrupted, Session, metrics_record, resume_session, start_session
from cli.threads import (
    for_training,
    one_shot_count,
    parse_threads,
    using,
)
from cli.usage import UsageError
from data import DATASETS
from mlp import (
    Checkpoint,
    evaluate,
    gradient_check,
    load_checkpoint,
    predict_proba,
)
from mlp.heads import head_for_task

app = typer.Typer(
    help="Train, evaluate and gradient-check multilayer perceptrons written in NumPy.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=FlagHelpGroup,
)

GRADCHECK_MAX_ENTRIES = 20_000  # per array; larger arrays are checked on a seeded sample

ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="YAML config file (see configs/example.yaml).")
]
SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="KEY=VALUE",
        help="Override one config key, e.g. --set train.epochs=5 (value parsed as YAML). "
        "Repeatable.",
    ),
]
JsonOption = Annotated[
    bool,
    typer.Option(
        "--json", help="Print exactly one JSON object on stdout and nothing else.", metavar=""
    ),
]


ThreadsOption = Annotated[
    str,
    typer.Option(
        "--threads",
        help="BLAS threads for the matrix products: a number, or auto to time the choices "
        "(1 or one per core) and keep the faster.",
    ),
]
# sweep and cv: how their runs are spread
JobsOption = Annotated[
    int | None,
    typer.Option("--jobs", min=1, help="Runs (points or folds) at once (default: cores)."),
]
BackendOption = Annotated[str, typer.Option("--backend", help="local (joblib processes) or dask.")]
SchedulerOption = Annotated[
    str | None,
    typer.Option("--scheduler", help="Dask scheduler address, e.g. tcp://127.0.0.1:8786."),
]
GridOption = Annotated[
    Path, typer.Option("--grid", help="YAML mapping dotted config keys to values to try.")
]
SweepOutOption = Annotated[
    Path | None,
    typer.Option("--out", help="Sweep directory (default: runs/<config>-sweep-<grid>)."),
]
SweepCvOption = Annotated[
    int | None,
    typer.Option(
        "--cv",
        min=2,
        help="Cross-validate each point with this many stratified folds (as mlp cv) "
        "and rank by mean accuracy over the folds.",
    ),
]
FoldsOption = Annotated[
    int, typer.Option("--folds", "-k", min=2, help="Number of stratified folds.")
]
CvOutOption = Annotated[
    Path | None,
    typer.Option(
        "--out",
        help="Folder of the fold runs (default: runs/<config>-cv). The same command again "
        "continues it: finished folds are kept, interrupted ones resume.",
    ),
]
CvThreadsOption = Annotated[
    str,
    typer.Option(
        "--threads",
        help="BLAS threads of each fold when they run one at a time (--jobs 1): a number, "
        "or auto. Folds run in parallel use one thread each.",
    ),
]
QuietOption = Annotated[
    bool, typer.Option("--quiet", "-q", help="Print only the final line.", metavar="")
]


def command(name: str):
    """Register a command whose CommandErrors become one stderr line and an exit code."""

    def register(function):
        return app.command(name, cls=FlagHelpCommand)(reported(function))

    return register


@command("train")
def train_command(
    config_path: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="YAML config file (see configs/example.yaml)."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Run directory (default: runs/<config name>-<timestamp>)."),
    ] = None,
    overrides: SetOption = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing run at --out.", metavar="")
    ] = False,
    resume: Annotated[
        Path | None,
        typer.Option(
            "--resume",
            help="Continue an interrupted run (or extend a finished one with "
            "--set train.epochs=N) exactly where it stopped.",
        ),
    ] = None,
    quiet: QuietOption = False,
    as_json: JsonOption = False,
    threads: ThreadsOption = "auto",
) -> None:
    """Train the network a config describes and save it as a run directory.

    Ctrl-C, SIGTERM or a closed terminal stops after the current batch and saves everything
    needed to resume; `mlp train --resume RUN` then finishes with the same weights as an
    uninterrupted run.
    """
    console = output.console(quiet=quiet or as_json)
    with user_errors():
        setting = parse_threads(threads)
        session = open_session(config_path, out, overrides or (), overwrite, resume)
    for note in session.notes:
        error_console().print(f"note: {note}", markup=False, highlight=False)
    session.threads = for_training(setting, session.multiply_adds())
    try:
        summary = train_and_save(console, session)
    finally:
        session.close()
    # The run is complete on disk before anything final is printed: a closed stdout from
    # here on costs nothing.
    if not console.quiet:  # (rendering the tables and charts costs more than training iris)
        render_training(console, session, summary)
    line = reports.train_line(summary, session.run_dir)
    if as_json:
        output.print_line(json.dumps(summary))
    elif quiet:
        output.print_line(line)
    else:
        console.print(line, soft_wrap=True)


def render_training(console: Console, session: Session, summary: dict) -> None:
    """The epochs table, the learning curves, the final figures, the thread count and what
    the diagnostics found."""
    console.print(render.epochs_table(session.history))
    for chart in render.learning_curves([metrics_record(r) for r in session.history]):
        console.print(chart)
    console.print(render.results_table(summary["final"]))
    console.print(f"BLAS threads: {session.threads.report()}", soft_wrap=True)
    for line in reports.diagnosis_lines(summary.get("diagnoses")):
        console.print(line, soft_wrap=True, markup=False, style="yellow")


def open_session(
    config_path: Path | None, out: Path | None, overrides, overwrite: bool, resume: Path | None
) -> Session:
    """A new session from a config, or one that resumes a run."""
    if resume is not None:
        if out is not None or overwrite:
            raise UsageError(
                "--resume continues a run in place: --out and --overwrite do not apply"
            )
        return resume_session(resume, config_path, overrides)
    if config_path is None:
        raise UsageError("missing --config FILE (or --resume RUN)")
    config = load_config(config_path, overrides)
    return start_session(config, config_path, out, overwrite)


def train_and_save(console: Console, session: Session) -> dict:
    """Train with a progress bar and save the run; a stop, a divergence or a failed write
    becomes one line on stderr and the exit code that says which."""
    if not console.quiet:
        console.print(render.key_value_grid(reports.train_header(session)))
    if session.resumed:
        trainer = session.trainer
        console.print(
            f"resuming {session.run_dir} after epoch {trainer.epochs_done}"
            + (f", batch {trainer.batches_done}" if trainer.batches_done else ""),
            soft_wrap=True,
        )
    epochs = session.config.train.epochs
    with render.epoch_progress(console) as progress:
        task = progress.add_task("train", total=epochs, completed=len(session.history), latest="")
        try:
            session.run(
                lambda report: progress.update(task, advance=1, latest=render.latest_text(report))
            )
            return session.finish()
        except Interrupted as stop:
            progress.stop()
            name = signal.Signals(stop.signum).name
            raise fail(
                f"interrupted ({name}) after batch {stop.batch} of epoch {stop.epoch}; the state "
                f"is saved in {session.run_dir}; resume with: mlp train --resume {session.run_dir}",
                128 + stop.signum,
                prefix="",
            ) from None
        except FloatingPointError as err:  # TrainingDiverged, LossDiverged
            progress.stop()
            found = [finding.record() for finding in session.diagnoses()]
            for line in reports.diagnosis_lines(found):  # what the epochs before it showed
                error_console().print(line, soft_wrap=True, markup=False)
            lr = getattr(session.config.train.optimizer, "lr", None)
            hint = "Try a smaller train.optimizer.lr" + (f" (now {lr})" if lr else "")
            raise fail(
                f"training diverged: {err}; the last good state is saved in {session.run_dir} "
                f"(marked failed). {hint}",
                FAILED,
            ) from None
        except OSError as err:
            progress.stop()
            raise fail(f"could not write the run: {describe_os_error(err)}", FAILED) from None


@command("eval")
def eval_command(
    run: Annotated[Path, typer.Argument(metavar="RUN", help="A run directory, or its model.npz.")],
    split: Annotated[
        str | None,
        typer.Option("--split", help="Which recorded part of the run's data: test, val or train."),
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            help="Score every row of this labelled CSV instead (columns matched by name). "
            "The run's own data moved elsewhere keeps its recorded split.",
        ),
    ] = None,
    quiet: QuietOption = False,
    as_json: JsonOption = False,
    threads: ThreadsOption = "auto",
) -> None:
    """Loss, accuracy, confusion matrix and per-class scores of a trained model.

    Scores exactly the rows the run recorded for --split (default test), after checking that
    the data is still the data the run was trained on.
    """
    console = output.console(quiet=as_json)
    with user_errors():
        setting = parse_threads(threads)
        completed, checkpoint, rows = scoring.rows_to_score(run, split, data)
    for line in [*scoring.unseen_lines(rows.unseen), scoring.unlabelled_line(rows)]:
        if line:
            error_console().print(line, markup=False)
    with using(one_shot_count(setting)):
        report = scored(checkpoint, rows, completed.data)
    counts = {"n_read": rows.n_read, "n_unlabelled": rows.n_unlabelled}
    report = {"run": str(completed.path), "split": rows.split, "data": rows.data, **report}
    report |= counts | {"diagnoses": reports.recorded_diagnoses(completed.summary)}
    if as_json:
        output.print_line(json.dumps(report))
        return
    regression = report.get("task") == "regression"
    if quiet:
        score = "R²" if regression else "accuracy"
        output.print_line(
            f"{rows.split} {score} {report['r2' if regression else 'accuracy']:.4f} "
            f"(loss {report['loss']:.4f}) on {report['n']} rows of {rows.data}"
        )
        return
    network = architecture(checkpoint.model.layer_sizes)
    if regression:
        console.print(render.key_value_grid(reports.regression_rows(report, rows, network)))
        console.print(render.per_target_table(report["per_target"]))
    else:
        console.print(render.key_value_grid(reports.eval_rows(report, rows, network)))
        class_names = [str(c) for c in report["classes"]]
        console.print(render.confusion_table(np.asarray(report["confusion_matrix"]), class_names))
        console.print(render.per_class_table(report["per_class"]))
    for line in reports.diagnosis_lines(report["diagnoses"]):
        console.print(line, soft_wrap=True, markup=False)


def scored(checkpoint: Checkpoint, rows: scoring.Rows, data: dict) -> dict:
    """eval's figures for the rows: a classifier's scores, or a regression's errors."""
    if checkpoint.model.head.targets == "values":
        values = scoring.predicted_values(checkpoint, rows.X)
        return reports.regression_report(checkpoint, rows.y, values, data)
    result = evaluate(checkpoint.model, rows.X, rows.y)
    return reports.scores_report(checkpoint, result, rows.y, data.get("train_class_counts"))


@command("gradcheck")
def gradcheck_command(
    config_path: ConfigOption,
    overrides: SetOption = None,
    samples: Annotated[
        int, typer.Option("--samples", min=1, help="Training samples the loss is taken over.")
    ] = 16,
    eps: Annotated[float, typer.Option("--eps", min=0.0, help="Finite-difference step h.")] = 1e-5,
    tol: Annotated[
        float, typer.Option("--tol", min=0.0, help="Largest max relative error that passes.")
    ] = 1e-6,
    quiet: QuietOption = False,
    as_json: JsonOption = False,
    threads: ThreadsOption = "auto",
) -> None:
    """Check backprop against centred finite differences, per parameter array, in float64."""
    console = output.console(quiet=as_json or quiet)
    with user_errors():
        setting = parse_threads(threads)
        if not eps > 0:
            raise UsageError(f"--eps {eps}: must be > 0")
        config = load_config(config_path, overrides or ())
        rng = np.random.default_rng(config.seed)  # as in training: the split, then the weights
        data = prepare_data(config, rng)
        model = build_model(config, data, rng)
        weights = sample_weights(config, data)  # the objective train.class_weight sets
    X, y = data.parts["train"]
    X, y = X[:samples], y[:samples]
    with using(one_shot_count(setting)):
        results = gradient_check(
            model,
            X,
            y,
            eps=eps,
            weight_decay=config.train.weight_decay,
            max_entries=GRADCHECK_MAX_ENTRIES,
            rng=rng,
            sample_weight=None if weights is None else weights[:samples],
        )
    report = reports.gradcheck_report(results, architecture(model.layer_sizes), len(y), eps, tol)
    worst = max(r.max_rel_error for r in results)
    verdict = f"{'PASS' if report['passed'] else 'FAIL'}: max relative error {worst:.2e} "
    verdict += f"(tolerance {tol:g})"
    if as_json:
        output.print_line(json.dumps(report))
    elif quiet:
        output.print_line(verdict)
    else:
        batch = f"{len(y)} training samples, weight decay {config.train.weight_decay}, h = {eps:g}"
        model_line = f"{architecture(model.layer_sizes)} ({config.model.activation})"
        rows = [("config", str(config_path)), ("model", model_line), ("batch", batch)]
        console.print(render.key_value_grid(rows))
        console.print(render.gradcheck_table(results, tol))
        console.print(verdict, style="green" if report["passed"] else "red")
    if not report["passed"]:
        raise typer.Exit(FAILED)


@command("explain")
def explain_command(
    config_path: ConfigOption,
    overrides: SetOption = None,
    sample: Annotated[
        int | None,
        typer.Option("--sample", help="The training row to step on (0-based; default 0)."),
    ] = None,
    batch: Annotated[
        int | None,
        typer.Option("--batch", min=1, help="Step on the first B training rows instead."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """One training step of the configured network, every quantity of the derivation in
    order (docs/math.md): x, each z and a, the output and loss, each delta, each gradient,
    and the optimizer's update."""
    from cli import explain

    with user_errors():
        config = load_config(config_path, overrides or ())
        explained = explain.explain(config, sample, batch)
        report = explain.explanation_json(explained) if as_json else None
    if report is not None:
        output.print_line(json.dumps(report))
        return
    console = output.console()
    rows = ", ".join(map(str, explained.rows[:10])) + (" ..." if len(explained.rows) > 10 else "")
    lines = [
        ("config", str(config_path)),
        ("model", f"{explained.architecture} ({explained.layers_text})"),
        ("optimizer", explained.optimizer),
        ("rows", f"{len(explained.rows)} training row(s) of the data: {rows}"),
    ]
    console.print(render.key_value_grid(lines))
    for q in explained.quantities:
        console.print(render.quantity_text(q.name, q.equation, q.section, q.value), end="")


@command("runs")
def runs_command(
    folder: Annotated[
        Path, typer.Argument(metavar="FOLDER", help="Where the runs are.")
    ] = DEFAULT_ROOT,
    sort: Annotated[
        str, typer.Option("--sort", help=f"Column to sort by: {', '.join(SORT_COLUMNS)}.")
    ] = "date",
    as_json: JsonOption = False,
) -> None:
    """A table of the saved runs in a folder (default: runs/), each with its true status."""
    from cli.listing import run_row, runs_in, sorted_runs

    with user_errors():
        if sort not in SORT_COLUMNS:
            raise UsageError(f"--sort {sort}: choose one of {', '.join(SORT_COLUMNS)}")
        if not folder.is_dir():
            raise UsageError(f"{folder}: no such folder of runs")
        rows = [run_row(d, str(d.relative_to(folder))) for d in runs_in(folder)]
    rows = sorted_runs(rows, sort)
    if as_json:
        output.print_line(json.dumps({"runs": rows}))
        return
    table = Table(title=f"Runs in {folder} ({len(rows)}), by {sort}", title_justify="left")
    numeric = ("epochs", "best_val_accuracy", "test_accuracy")
    for column in RUN_COLUMNS:
        title = column.replace("_", " ").replace("accuracy", "acc")
        table.add_column(title, justify="right" if column in numeric else "left", no_wrap=True)
    for row in rows:
        table.add_row(*(render.run_cell(row, c) for c in RUN_COLUMNS))
    console = output.console()
    console.print(render.fitted(table))
    for row in rows:
        if row["problem"]:
            console.print(f"{row['name']}: {row['problem']}", soft_wrap=True, markup=False)


@command("curves")
def curves_command(
    run: Annotated[Path, typer.Argument(metavar="RUN", help="A run directory.")],
    png: Annotated[
        Path | None,
        typer.Option("--png", help="Also write the chart as a PNG (needs matplotlib)."),
    ] = None,
    diagnostics: Annotated[
        bool,
        typer.Option(
            "--diagnostics",
            help="Plot each layer's gradient norm, update ratio, saturated and dead units.",
            metavar="",
        ),
    ] = False,
) -> None:
    """Learning curves of a run: train and validation loss and accuracy (or R²) per epoch;
    with --diagnostics, what training measured in each layer."""
    with user_errors():
        records = rundir.read_metrics(rundir.locate(run))
        if not records:
            raise RunError(f"{run}: no epoch finished yet (metrics.jsonl is empty)")
        if diagnostics and not render.diagnostic_series(records):
            raise RunError(
                f"{run}: its epochs hold no diagnostics (train.diagnostics was off, or the run "
                "was trained before mlp measured them)"
            )
    if png is not None and importlib.util.find_spec("matplotlib") is None:
        raise fail(
            "--png needs matplotlib: pip install 'mlp-trainer[plot]' "
            "(in a clone of mlp: pip install '.[plot]')",
            BAD_INPUT,
        )
    console = output.console()
    charts = render.diagnostic_charts if diagnostics else render.learning_curves
    for chart in charts(records):
        console.print(chart)
    if png is not None:
        save = render.save_diagnostics_png if diagnostics else render.save_curves_png
        try:
            save(records, png)
        except OSError as err:
            raise fail(f"--png: {describe_os_error(err)}", FAILED) from None
        console.print(f"wrote {png}", soft_wrap=True)


@command("predict")
def predict_command(
    run: Annotated[Path, typer.Argument(metavar="RUN", help="A run directory, or its model.npz.")],
    input_csv: Annotated[
        Path,
        typer.Argument(
            metavar="INPUT",
            help="A CSV (or TSV) file, read with the run's delimiter and header settings; "
            "the model's feature columns are matched by name (others are left out, and the "
            "run's id column is copied to the output).",
        ),
    ],
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the predictions here (default: stdout).")
    ] = None,
    proba: Annotated[
        bool, typer.Option("--proba", help="Add each class's probability as a column.", metavar="")
    ] = False,
    threads: ThreadsOption = "auto",
) -> None:
    """Predict a label for every row of a file, with the run's own preprocessing."""
    with user_errors():
        setting = parse_threads(threads)
        config = None
        if run.is_file():  # a model file: it records how its run reads tables
            model_path = run
            checkpoint = scoring.checked_model(load_checkpoint(run), run)
        else:  # a run directory, checked complete; its config says how to read the file
            completed = rundir.open_completed(run)
            config = loads_config(completed.config_text, source=f"{completed.path}: config.yaml")
            model_path = completed.model_path
            checkpoint = scoring.checked_model(completed.checkpoint, model_path)
        inputs = scoring.predict_inputs(checkpoint, config, input_csv, model_path)
        if proba and checkpoint.model.head.targets == "values":
            raise UsageError("--proba: this model is a regression; it predicts values, not classes")
    for line in scoring.unseen_lines(inputs.unseen):
        error_console().print(line, markup=False)
    text, count = predictions_text(checkpoint, inputs, proba, setting)
    try:  # stdout is the product here: a write that fails is an error (a closed pipe aside)
        if out is None:
            output.write_product(text)
            return
        output.write_file(out, text.encode("utf-8"))
    except OSError as err:
        where = "--out: " if out is not None else ""
        raise fail(f"{where}{describe_os_error(err)}", FAILED) from None
    error_console().print(f"wrote {count} predictions to {out}", markup=False)


def predictions_text(
    checkpoint: Checkpoint, inputs: scoring.Inputs, proba: bool, setting
) -> tuple[str, int]:
    """predict's CSV and its row count: labels (and probabilities), or a regression's values."""
    with using(one_shot_count(setting)):
        if checkpoint.model.head.targets == "values":
            values = scoring.predicted_values(checkpoint, inputs.X)
            return scoring.values_csv(inputs, values, checkpoint), len(values)
        probabilities = predict_proba(checkpoint.model, inputs.X)
    labels = checkpoint.classes[probabilities.argmax(axis=1)]
    text = scoring.predictions_csv(inputs, labels, probabilities if proba else None, checkpoint)
    return text, len(labels)


@command("export")
def export_command(
    run: Annotated[Path, typer.Argument(metavar="RUN", help="A run directory, or its model.npz.")],
    out: Annotated[Path, typer.Argument(metavar="OUT.onnx", help="Where to write the graph.")],
    as_json: JsonOption = False,
) -> None:
    """Write the model as an ONNX graph: raw feature rows in, class probabilities and the
    predicted class index out, or a regression's predicted values (needs
    mlp-trainer\\[onnx])."""  # \[: no Rich markup tag
    from cli import export

    with user_errors():
        if run.is_file():
            checkpoint = scoring.checked_model(load_checkpoint(run), run)
        else:
            completed = rundir.open_completed(run)
            checkpoint = scoring.checked_model(completed.checkpoint, completed.model_path)
        if importlib.util.find_spec("onnx") is None:
            raise fail(export.INSTALL_HINT, BAD_INPUT)
        try:
            graph = export.build_graph(checkpoint)
        except export.ExportError:
            raise
        except Exception as err:  # onnx's checker refused the graph: ours to fix, said once
            detail = " ".join(str(err).split())[:300]
            raise fail(
                f"could not build a valid ONNX graph ({type(err).__name__}: {detail}); "
                "please report it with the run's model.npz",
                FAILED,
            ) from None
    data = graph.SerializeToString()
    warning = export.float32_warning(checkpoint)
    if warning:
        error_console().print(warning, markup=False, soft_wrap=True)
    try:
        output.write_file(out, data)
    except OSError as err:
        raise fail(f"could not write the graph: {describe_os_error(err)}", FAILED) from None
    report = {
        "onnx": str(out),
        "bytes": len(data),
        "opset": export.OPSET,
        "inputs": export.feature_names(checkpoint),
        "graph_inputs": export.graph_inputs(checkpoint),
        "classes": checkpoint.classes.tolist(),  # a regression's: its target columns
        "task": checkpoint.model.head.task,
    }
    if as_json:
        output.print_line(json.dumps(report))
        return
    # the graph itself may have gone to stdout (`mlp export RUN /dev/stdout > model.onnx`)
    console = error_console() if output.is_stdout(out) else output.console()
    console.print(reports.export_line(report), soft_wrap=True, markup=False)


@command("sweep")
def sweep_command(
    config_path: ConfigOption,
    grid: GridOption,
    out: SweepOutOption = None,
    jobs: JobsOption = None,
    backend: BackendOption = "local",
    scheduler: SchedulerOption = None,
    overrides: SetOption = None,
    cv: SweepCvOption = None,
    quiet: QuietOption = False,
    as_json: JsonOption = False,
) -> None:
    """Train one run per point of a grid, in parallel; rank them by validation accuracy
    (or, with --cv K, by mean cross-validated accuracy).

    Re-running the same command skips finished points, resumes interrupted ones and redoes
    failed ones; a point whose config or data changed is trained afresh.
    """
    from cli import batch, sweep

    console = output.console(quiet=quiet or as_json)
    with user_errors():
        check_backend(backend, scheduler)
        points, out = sweep.prepare(config_path, grid, out, overrides or (), cv)
        cluster = batch.connect(scheduler) if scheduler else None
    n_jobs = jobs or os.cpu_count() or 1
    console.print(
        f"{len(points)} points from {grid}, {n_jobs} at a time ({backend}), in {out}",
        soft_wrap=True,
    )
    options = ("--grid", str(grid), *(("--cv", str(cv)) if cv else ()))
    rows = run_counted(
        console,
        "points",
        len(points),
        lambda: sweep.run_points(config_path, points, out, n_jobs, cv=cv, client=cluster),
        cluster,
        kept="the finished points are kept",
        again=reports.continue_command("sweep", config_path, overrides, options, out),
    )
    with user_errors():
        ranked, best = sweep.save_results(out, rows)
    show_sweep(console, out, ranked, best, as_json=as_json, quiet=quiet)
    if best is None:  # the result is printed; it is a failure all the same
        error_console().print(
            "error: every point failed; see results.jsonl for each message", markup=False
        )
        raise typer.Exit(FAILED)


def show_sweep(console: Console, out: Path, ranked, best, *, as_json: bool, quiet: bool) -> None:
    """The ranked points: as JSON, the winner's line, or the table and the winner."""
    if as_json:
        output.print_line(json.dumps({"sweep": str(out), "points": ranked, "best": best}))
    elif quiet:
        output.print_line(reports.sweep_line(ranked, best, out))
    else:
        console.print(render.sweep_table(ranked))
        if best is not None:
            console.print(
                f"best: {best['id']} {best['overrides']}; config in {out / 'best.yaml'}",
                soft_wrap=True,
            )


def run_counted(
    console: Console, noun: str, total: int, start, cluster, *, kept: str, again: str
) -> list[dict]:
    """The rows of a sweep's points or a cv's folds as they finish (`start()` begins them),
    counted by a progress bar; Ctrl-C (or a run interrupted in a worker) ends the command with
    exit 130 and the command that continues."""
    rows: list[dict] = []
    try:
        with cluster or contextlib.nullcontext(), render.count_progress(console, noun) as bar:
            task = bar.add_task(noun, total=total)
            for row in start():
                rows.append(row)
                bar.update(task, advance=1)
                if row["status"] == "interrupted":
                    raise KeyboardInterrupt
    except KeyboardInterrupt:
        done = sum(row["status"] == "completed" for row in rows)
        raise fail(
            f"interrupted after {done} of {total} {noun}; {kept}; continue with: {again}",
            130,
            prefix="",
        ) from None
    return rows


@command("cv")
def cv_command(
    config_path: ConfigOption,
    folds: FoldsOption = 5,
    out: CvOutOption = None,
    overrides: SetOption = None,
    jobs: JobsOption = None,
    backend: BackendOption = "local",
    scheduler: SchedulerOption = None,
    quiet: QuietOption = False,
    as_json: JsonOption = False,
    threads: CvThreadsOption = "auto",
) -> None:
    """Stratified K-fold cross-validation: one run per fold (OUT/fold-1 .. OUT/fold-K), each
    tested on the rows its fold holds out; the folds' accuracy and loss with mean +- std.

    data.test_size does not apply; data.val_size is carved out of each fold's training rows.
    Running the same command again continues an interrupted cross-validation.
    """
    from cli import batch, cv

    console = output.console(quiet=quiet or as_json)
    with user_errors():
        check_backend(backend, scheduler)
        setting = parse_threads(threads)
        config = load_config(config_path, overrides or ())
        dataset = load_data(config)
        splits = cv.fold_splits(config, folds, dataset)
        out = out or cv.default_out(config_path)
        continued = cv.claim_out(out, config, folds)  # one cv per folder: its lock, held
        cluster = batch.connect(scheduler) if scheduler else None
    n_jobs = min(jobs or os.cpu_count() or 1, folds)
    console.print(
        f"{folds} folds of {config.data.dataset}, {n_jobs} at a time ({backend}), in {out}"
        + (" (continued: finished folds are kept)" if continued else ""),
        soft_wrap=True,
    )
    rows = run_counted(
        console,
        "folds",
        folds,
        lambda: cv.run_folds(config_path, config, splits, out, n_jobs, cluster, threads=setting),
        cluster,
        kept="the finished folds and the state of the interrupted ones are kept",
        again=reports.continue_command("cv", config_path, overrides, ("--folds", str(folds)), out),
    )
    result = cv.summarize(rows, head_for_task(dataset.task).score)
    if as_json:
        output.print_line(json.dumps(result))
    elif quiet:
        output.print_line(reports.cv_line(result, folds, out))
    else:
        console.print(render.cv_table(result))
    failed = [row for row in result["folds"] if row["status"] != "completed"]
    if failed:
        error_console().print(reports.failed_folds_line(failed, folds), markup=False)
        raise typer.Exit(FAILED)


def check_backend(backend: str, scheduler: str | None) -> None:
    """Refuse a --backend/--scheduler pair that does not go together."""
    if backend not in ("local", "dask"):
        raise UsageError(f"--backend {backend}: choose local or dask")
    if (backend == "dask") != (scheduler is not None):
        raise UsageError("--backend dask and --scheduler ADDRESS go together")


@command("datasets")
def datasets_command(
    name: Annotated[
        str | None,
        typer.Argument(metavar="NAME", help="One dataset: list its feature columns and classes."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """The bundled datasets with their samples, features and classes; with NAME, one of them
    in full (the feature columns `mlp predict` matches by name, and the classes)."""
    if name is not None:
        with user_errors():
            if name not in DATASETS:
                raise UsageError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
            one = reports.dataset_detail(name)
        if as_json:
            output.print_line(json.dumps(one))
            return
        console = output.console()
        console.print(f"{name}: {one['description']}; {one['samples']} samples", soft_wrap=True)
        features, classes = one["features"], map(str, one["classes"])
        console.print(f"features ({len(features)}): " + ", ".join(features), soft_wrap=True)
        named = "targets" if one["task"] == "regression" else "classes"
        console.print(f"{named} ({len(one['classes'])}): " + ", ".join(classes), soft_wrap=True)
        return
    rows = reports.dataset_rows()
    if as_json:
        output.print_line(json.dumps({"datasets": rows}))
        return
    table = Table(title="Bundled datasets (scikit-learn); a path to a .csv works too")
    columns = ("name", "task", "samples", "features", "classes", "description")
    for column in columns:
        numeric = column in ("samples", "features", "classes")
        table.add_column(column, justify="right" if numeric else "left")
    for row in rows:
        table.add_row(*("-" if row[k] is None else str(row[k]) for k in columns))
    output.console().print(render.fitted(table))


def version_callback(value: bool) -> None:
    """`mlp --version`: the installed version, then exit."""
    if value:
        from importlib import metadata

        try:
            found = metadata.version("mlp-trainer")
        except metadata.PackageNotFoundError:
            found = "unknown (not installed)"
        output.print_line(f"mlp-trainer {found}")
        raise typer.Exit()


@app.callback()
def common(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Print the version and exit.",
            callback=version_callback,
            is_eager=True,
            metavar="",
        ),
    ] = False,
) -> None:
    """Train, evaluate and gradient-check multilayer perceptrons written in NumPy."""
    # Overflow on the way to a divergence is reported as such; NumPy's warnings about it
    # would only be noise in the user's terminal.
    warnings.simplefilter("ignore", RuntimeWarning)


def main() -> None:
    """Console-script entry point."""
    # cli.startup.main does both before the imports; again here (harmless) for a direct caller
    reopen_closed_streams()
    stop_on_sigterm()
    try:
        app()
    except (KeyboardInterrupt, Terminated) as stop:  # outside training, which saves first
        signum = stop.signum if isinstance(stop, Terminated) else signal.SIGINT
        output.stdout().flush()  # what was printed before comes first
        report_stop(signum)
        sys.exit(128 + signum)
    except OSError as err:  # Typer's own help or usage box could not be written
        output.silence(sys.stdout)  # (so that the interpreter's last flush stays quiet)
        error_console().print(f"error: could not write the output: {err.strerror}", markup=False)
        sys.exit(FAILED)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
