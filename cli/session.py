"""One `mlp train` run from start (or resumption) to a complete run directory.

A session holds its run's writer (and so its lock) while it trains. Whatever way training
ends, the directory says so (see cli/rundir.py for the protocol): a completed run has
`model.npz` and `summary.json`; an interrupted or failed one has `resume.npz`, marked with why
it stopped. `resume.npz` holds the weights, the optimizer's state, the position inside the
epoch and the random generator's state: all a resumed run needs to end bit-identical to an
uninterrupted one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from cli import environment
from cli.config import Config, config_to_dict, dump_config, load_config, loads_config
from cli.experiment import (
    PreparedData,
    architecture,
    build_model,
    build_optimizer,
    draw_split,
    load_data,
    prepare,
    sample_weights,
)
from cli.rundir import (
    RunError,
    RunWriter,
    check_out_dir,
    completed_summary,
    describe_data_change,
)
from cli.scoring import reading_arrays
from cli.threads import TrainingThreads, blas_thread_count, using
from data import DataError, Dataset, file_record, is_table_path
from data.table import ROWNAMES
from mlp import MLP, Checkpoint, EpochReport, Trainer, TrainingStopped, evaluate
from mlp.checkpoint import TrainingState
from mlp.diagnostics import Finding, diagnose
from mlp.early_stopping import EarlyStopping
from mlp.evaluation import regression_errors
from mlp.optimizers import Optimizer
from mlp.schedules import DEFAULT_SCHEDULE, SCHEDULES, make_schedule

# Seconds between saves of a running run's state (at an epoch's end): a run killed outright
# (SIGKILL, power cut) loses at most this much. MLP_AUTOSAVE_SECONDS overrides it.
AUTOSAVE_SECONDS = 60.0


def autosave_seconds() -> float:
    """MLP_AUTOSAVE_SECONDS, checked (one line naming it when malformed), or the default."""
    return environment.number("MLP_AUTOSAVE_SECONDS", AUTOSAVE_SECONDS)


# The keys that may change on resuming: more epochs extend a run; anything else makes another run.
RESUMABLE_CHANGES = {"train.epochs"}
# data.json's "split" for a run whose split was handed to it (a cross-validation fold)
# rather than drawn from the config's sizes: resuming it reads the split back.
GIVEN_SPLIT = "given"
# The signals that stop training after the current batch, with the state saved: Ctrl-C,
# `kill`, and a closed terminal.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupted(Exception):
    """Training stopped on a signal; the state is saved. `signum` is the first signal."""

    def __init__(self, signum: int, epoch: int, batch: int) -> None:
        super().__init__(f"stopped after batch {batch} of epoch {epoch}")
        self.signum, self.epoch, self.batch = signum, epoch, batch


class LossDiverged(FloatingPointError):
    """An epoch's training loss is above its head's limit (`Head.loss_limit`), though finite."""

    def __init__(self, epoch: int, loss: float, bound: float, why: str) -> None:
        super().__init__(
            f"the training loss of epoch {epoch} is {loss:.4g}, above {bound:.4g} = {why}"
        )
        self.epoch = epoch


@dataclass
class Session:
    """Everything one run of training needs, and the writer of its directory."""

    config: Config
    config_path: Path
    writer: RunWriter
    data: PreparedData
    model: MLP
    optimizer: Optimizer
    trainer: Trainer
    stopper: EarlyStopping | None = None
    history: list[EpochReport] = field(default_factory=list)  # every epoch of the run so far
    wall_seconds: float = 0.0  # training time of earlier sessions of this run
    training_done: bool = False  # resumed after training ended, before the run was saved
    # The BLAS thread count while training (`mlp train --threads`, and 1 in sweep and cv
    # workers); None leaves the BLAS's own count.
    threads: TrainingThreads | None = None
    # Seconds between autosaves, read when the session is made: a malformed variable is
    # reported before training starts.
    autosave: float = field(default_factory=autosave_seconds)
    _last_good: np.ndarray = field(init=False)  # the weights at the end of the last epoch

    def __post_init__(self) -> None:
        self._last_good = self.model.params.copy()

    @property
    def run_dir(self) -> Path:
        """The run directory, as the user named it."""
        return self.writer.run_dir

    def multiply_adds(self) -> float:
        """About how much arithmetic the training left to do takes: 3 passes (forward, and
        backward for the deltas and the gradient) over every parameter for every row."""
        rows = len(self.data.parts["train"][1])
        epochs_left = max(self.config.train.epochs - len(self.history), 0)
        return 3.0 * self.model.n_params * rows * epochs_left

    @property
    def notes(self) -> tuple[str, ...]:
        """What to tell the user about how the data was read and encoded (id-like columns,
        capped categories, decimal commas left as text, row names left out)."""
        preprocessor = self.data.preprocessor
        return self.data.dataset.notes + (preprocessor.notes if preprocessor else ())

    @property
    def resumed(self) -> bool:
        """True when this session continues an earlier one."""
        return bool(self.history) or self.trainer.batches_done > 0 or self.training_done

    # -- training -------------------------------------------------------------------------

    def run(self, on_epoch: Callable[[EpochReport], None]) -> None:
        """Train to `train.epochs`, saving every epoch's metrics; on a signal or a divergence
        save the state, marked, and raise `Interrupted`, `TrainingDiverged` or `LossDiverged`."""
        if self.training_done:
            return
        started = last_save = time.perf_counter()
        y_train = self.data.parts["train"][1]
        bound, why = self.model.head.loss_limit(y_train, self.model.layer_sizes[-1])
        epochs = self.trainer.run(self.config.train.epochs)
        with stop_on_signals(self.trainer) as received:
            try:
                if self.threads is not None:
                    self.threads.keep_numbers(self.trainer)
                    epochs = self.threads.run(epochs, self.trainer)
                for report in epochs:
                    if report.train_loss > bound:
                        raise LossDiverged(report.epoch, report.train_loss, bound, why)
                    self.history.append(report)
                    self.writer.append_metrics(metrics_record(report))
                    self._last_good = self.model.params.copy()
                    # Before the autosave, so that the state saved holds the best weights so
                    # far: a run killed after it resumes with this epoch's best, not the last.
                    stop = self.stopper is not None and self.stopper.update(
                        report, self.model.params
                    )
                    if time.perf_counter() - last_save >= self.autosave:
                        self.save_state("running", time.perf_counter() - started)
                        last_save = time.perf_counter()
                    on_epoch(report)
                    if stop:
                        break
            except TrainingStopped as stop:
                self.wall_seconds += time.perf_counter() - started
                self.save_state("interrupted")
                raise Interrupted(received[0], stop.epoch, stop.batch) from None
            except FloatingPointError:  # TrainingDiverged or LossDiverged
                self.wall_seconds += time.perf_counter() - started
                self.save_state("failed", last_good=True)
                raise
            finally:  # now, not when collected: gives back the trainer's hook, the BLAS's count
                epochs.close()
        self.wall_seconds += time.perf_counter() - started

    def save_state(self, status: str, running_seconds: float = 0.0, last_good=False) -> None:
        """Write resume.npz: the weights and everything needed to continue.

        `running_seconds`: training time of this session not yet added to `wall_seconds`.
        `last_good`: save the weights of the last finished epoch (after a divergence).
        """
        params = self._last_good if last_good else self.model.params
        state = TrainingState(
            params=params,
            optimizer=self.optimizer.state_dict(),
            trainer=self.trainer.state_dict(),
            info={
                "status": status,
                "epochs": self.config.train.epochs,  # what "completed" was measured against
                "wall_seconds": self.wall_seconds + running_seconds,
                "saved": now_text(),  # `mlp runs` dates a run by this, never by file times
            },
            best_params=None if self.stopper is None else self.stopper.best_params,
        )
        self.writer.save_state(state)

    def finish(self) -> dict:
        """Save the final state, the model and the summary (last: the run is then complete)."""
        self.save_state("completed")  # the last weights: more epochs can extend the run later
        stopping = self.config.train.early_stopping
        best = None
        if self.stopper is not None and self.stopper.best_epoch is not None:
            best = {
                "epoch": self.stopper.best_epoch,
                self.stopper.monitor: self.stopper.best_value,
                "stopped_early": len(self.history) < self.config.train.epochs,
                "restored": bool(stopping and stopping.restore_best),
            }
            if stopping and stopping.restore_best and self.stopper.best_params is not None:
                self.model.params[:] = self.stopper.best_params
        # At one thread, whatever --threads says: these figures are then the same numbers
        # with any setting (odd-sized parts can change in the last bit at other counts).
        with using(1):
            final_figures = split_figures(self.model, self.data)
        data = self.data
        prep = None
        if data.preprocessor is not None:  # a table: how it was encoded, and how it is read
            id_column = data.dataset.roles.id if data.dataset.roles is not None else None
            prep = data.preprocessor.to_arrays() | reading_arrays(self.config, id_column)
        checkpoint = Checkpoint(
            self.model,
            data.dataset.classes,
            data.mean,
            data.scale,
            data.input_names,
            prep,
            data.target_mean,
            data.target_scale,
        )
        summary = {
            "status": "completed",
            "config": str(self.config_path),
            "dataset": data.dataset.name,
            "task": data.dataset.task,
            "score": data.head.score,  # what "final" and "best" rank by: accuracy or r2
            "architecture": architecture(self.model.layer_sizes),
            "n_params": self.model.n_params,
            "epochs": len(self.history),
            "best": best,
            "final": final_figures,
            "wall_seconds": self.wall_seconds,
            "started": self.writer.data_record().get("started"),
            "saved": now_text(),
            # the BLAS thread count used last (auto may change it during training)
            "threads": blas_thread_count() if self.threads is None else self.threads.current,
            "versions": dict(versions()),
            "diagnoses": [finding.record() for finding in self.diagnoses()],
        }
        return self.writer.finish(checkpoint, summary)

    def diagnoses(self) -> list[Finding]:
        """The rules of mlp/diagnostics.py that fire on the run's epochs so far (recomputed
        from them, so a resumed run names each finding once, at the epoch it first showed)."""
        if not self.config.train.diagnostics:
            return []
        records = [metrics_record(report) for report in self.history]
        return diagnose(records, early_stopping=self.config.train.early_stopping is not None)

    def close(self) -> None:
        """Release the run directory's lock."""
        self.writer.close()


# -- starting and resuming -------------------------------------------------------------------


def first_run_state(config: Config) -> tuple[Config, PreparedData, MLP, Optimizer, Trainer]:
    """What a new run of `config` holds before its first step (the data loaded and split, the
    network drawn, the optimizer and trainer made), built as `start_session` builds it, with
    no run directory: `mlp explain` takes that first step."""
    rng = np.random.default_rng(config.seed)  # the one generator: split, weights, then order
    dataset = load_data(config)
    config = with_found_id(config, dataset)
    split = draw_split(config, dataset, rng)
    return (config, *_built(config, dataset, split, rng))


def _built(
    config: Config, dataset: Dataset, split: dict[str, np.ndarray], rng: np.random.Generator
) -> tuple[PreparedData, MLP, Optimizer, Trainer]:
    """The data prepared on `split`, then the network (its weights drawn from `rng`), the
    optimizer and the trainer: the one build sequence of a new run and a resumed one."""
    data = prepare(dataset, split, config)
    model = build_model(config, data, rng)
    optimizer = build_optimizer(config)
    return data, model, optimizer, _trainer(config, data, model, optimizer, rng)


def _trainer(config: Config, data: PreparedData, model: MLP, optimizer, rng) -> Trainer:
    X_train, y_train = data.parts["train"]
    X_val, y_val = data.part("val") or (None, None)
    schedule = config.train.lr_schedule
    lr_schedule = None
    if schedule.name != DEFAULT_SCHEDULE:
        lr_schedule = make_schedule(
            schedule.name,
            lr=config.train.optimizer.lr,
            epochs=config.train.epochs,
            **dataclasses.asdict(schedule),
        )
    return Trainer(
        model,
        optimizer,
        X_train,
        y_train,
        batch_size=config.train.batch_size,
        rng=rng,
        shuffle=config.train.shuffle,
        weight_decay=config.train.weight_decay,
        X_val=X_val,
        y_val=y_val,
        lr_schedule=lr_schedule,
        sample_weight=sample_weights(config, data),
        diagnostics=config.train.diagnostics,
    )


def _stopper(config: Config) -> EarlyStopping | None:
    settings = config.train.early_stopping
    if settings is None:
        return None
    return EarlyStopping(settings.monitor, settings.patience, settings.min_delta)


def now_text() -> str:
    """The time now, local, to the second, with its UTC offset: 2026-12-06T14:05:09+01:00."""
    return datetime.now().astimezone().isoformat(timespec="seconds")


def data_facts(config: Config, data: PreparedData) -> dict:
    """What data.json says about the data besides its digest."""
    dataset = data.dataset
    facts = {
        "started": now_text(),  # when the run started: `mlp runs` shows it
        "dataset": dataset.name,
        "rows": dataset.n_samples,
        "feature_names": list(dataset.feature_names),
        "inputs": len(data.input_names),  # the network's input width, one-hot columns counted
        "task": dataset.task,
        "classes": dataset.classes.tolist(),  # a regression's: its target columns
    }
    y_train = dataset.y[data.split["train"]]
    if dataset.task == "regression":
        # for eval's baseline: the R^2 of always predicting the training mean
        facts["train_target_mean"] = y_train.mean(axis=0).tolist()
    else:
        # for eval's majority baseline: the class always predicted by a model that learned nothing
        facts["train_class_counts"] = np.bincount(y_train, minlength=dataset.n_classes).tolist()
    if dataset.table is not None and dataset.roles is not None:
        facts |= {
            # the label column, or a regression's target column(s)
            "target": dataset.roles.target
            if len(dataset.roles.target_columns) == 1
            else list(dataset.roles.target_columns),
            "id": dataset.roles.id,
            "delimiter": dataset.table.delimiter,
            "header": dataset.table.header,
            "rows_without_label": dataset.n_dropped,
        }
    return facts


def start_session(
    config: Config,
    config_path: Path,
    out: Path | None,
    overwrite: bool,
    split: dict[str, np.ndarray] | None = None,
    dataset: Dataset | None = None,
) -> Session:
    """A new run: everything is checked and loaded before the run directory is touched.

    `split`: the row indices of each part ("train", and "val"/"test" if any) to train on
    instead of drawing them from the config's sizes (a cross-validation fold). The run records
    that its split was given, and the generator then draws the weights first.
    `dataset`: the config's dataset, already loaded (by a client, for a Dask worker that
    cannot read the client's files); by default it is loaded here.
    """
    autosave = autosave_seconds()  # a malformed variable is refused before anything is made
    if out is not None:
        check_out_dir(out, overwrite)  # refuse early; checked again under the lock
    rng = np.random.default_rng(config.seed)  # the one generator: split, weights, then order
    dataset = dataset if dataset is not None else load_data(config)
    config = with_found_id(config, dataset)
    facts = {}
    if split is None:
        split = draw_split(config, dataset, rng)
    else:
        facts = {"split": GIVEN_SPLIT}
    data, model, optimizer, trainer = _built(config, dataset, split, rng)
    writer = RunWriter.create(out, config_path.stem, overwrite)
    try:
        writer.write_config(dump_config(config))
        writer.write_data(dataset.record, data.split, data_facts(config, data) | facts)
    except BaseException:
        writer.close()
        raise
    return Session(
        config,
        config_path,
        writer,
        data,
        model,
        optimizer,
        trainer,
        stopper=_stopper(config),
        autosave=autosave,
    )


def with_found_id(config: Config, dataset: Dataset) -> Config:
    """`config` with `data.id` naming the id column the data chose for itself (a file's row
    names), so that the saved config reads the same files the same way on --resume, eval
    and predict."""
    found = dataset.roles.id if dataset.roles is not None else None
    if found is None or found == config.data.id:
        return config
    return dataclasses.replace(config, data=dataclasses.replace(config.data, id=found))


def flat_keys(tree: dict, prefix: str = "") -> dict[str, object]:
    """{"train.optimizer.lr": 0.1, ...} for a nested mapping."""
    flat: dict[str, object] = {}
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            flat |= flat_keys(value, path + ".")
        else:
            flat[path] = value
    return flat


def changed_keys(old: Config, new: Config) -> list[str]:
    """The dotted keys whose values differ between two configs."""
    a, b = flat_keys(config_to_dict(old)), flat_keys(config_to_dict(new))
    return sorted(key for key in a.keys() | b.keys() if a.get(key) != b.get(key))


def resume_session(
    run: Path, config_path: Path | None, overrides, dataset: Dataset | None = None
) -> Session:
    """Continue the run in `run` exactly where it stopped (or extend a finished one);
    `dataset`: its data already loaded, as for `start_session`."""
    autosave_seconds()  # a malformed variable is refused before the run is touched
    writer = RunWriter.reopen(run)
    try:
        return _resume(writer, run, config_path, overrides, dataset)
    except BaseException:
        writer.close()
        raise


@dataclass
class _Resumed:
    """The config a resumed run goes on with, next to the one it saved."""

    saved: Config
    config: Config
    changed: list[str]  # the keys that differ (train.epochs at most, data.dataset if moved)
    moved: bool  # the data file is the run's own bytes in a new place


def _resumed_config(
    writer: RunWriter, where: str, run: Path, config_path: Path | None, overrides
) -> _Resumed:
    """The run's config with `--set` overrides (or another file), refused where it differs
    from the saved one in anything but more epochs or moved data."""
    saved_text = writer.config_text()
    source = f"{run}: config.yaml"
    saved = loads_config(saved_text, source=source)
    if config_path is None:
        config = loads_config(saved_text, overrides, source=source)
    else:
        config = load_config(config_path, overrides)
        found = saved.data.id
        if config.data.id is None and found and found.rstrip("_") == ROWNAMES:
            # the row names the run found for itself are its id still
            config = dataclasses.replace(
                config, data=dataclasses.replace(config.data, id=saved.data.id)
            )
    changed = changed_keys(saved, config)
    moved = "data.dataset" in changed and _moved_data(writer, config)
    if moved:  # the same bytes in a new place: the same run (as `eval --data` accepts them)
        changed.remove("data.dataset")
    other = [key for key in changed if key not in RESUMABLE_CHANGES]
    if other:
        raise RunError(
            f"{where}: the config differs from the run's in {', '.join(other)}; "
            "only train.epochs may change (start a new run for anything else)"
        )
    schedule = config.train.lr_schedule.name
    # A schedule computed from the total number of epochs: a new total would change every
    # epoch's rate, including those already trained, so its runs cannot be extended.
    if changed and SCHEDULES[schedule].uses_total_epochs:
        raise RunError(
            f"{where}: the {schedule} lr schedule is computed from train.epochs, so a new "
            f"total would change the rates of epochs already trained; start a new run instead"
        )
    return _Resumed(saved, config, changed, moved)


def _resumed_data(where: str, config: Config) -> Dataset:
    """The run's data, with the way on when its file is gone: the same bytes elsewhere are
    accepted with --set data.dataset=NEW (checked against the recorded SHA-256)."""
    try:
        return load_data(config)
    except DataError as err:
        if is_table_path(config.data.dataset) and not Path(config.data.dataset).exists():
            raise RunError(
                f"{where}: {err}; if the file moved, resume with --set data.dataset=NEW_PATH "
                "(the same bytes are accepted)"
            ) from None
        raise


def _check_more_to_train(
    where: str,
    writer: RunWriter,
    resumed: _Resumed,
    state: TrainingState | None,
    done: int,
    complete: bool,
) -> None:
    """Refuse, before anything is staged, a resume that could train nothing: a diverged run,
    no more epochs than are done, or more epochs for a run early stopping ended."""
    if state is not None and state.info.get("status") == "failed":
        raise RunError(f"{where}: this run diverged; start a new one with a smaller lr")
    if (complete or resumed.changed) and resumed.config.train.epochs <= done:
        raise RunError(
            f"{where}: {done} epochs are already done; ask for more than that, "
            f"e.g. --set train.epochs={done + resumed.saved.train.epochs}"
        )
    if resumed.changed and state is not None:
        history = [EpochReport.from_record(record) for record in writer.metrics()[:done]]
        if _resumed_stopper(resumed.config, history, state)[1]:
            raise RunError(
                f"{where}: early stopping ended this run at epoch {done}, so more epochs "
                "would train none; start a new run (with more train.early_stopping.patience)"
            )


def _restore(where: str, state: TrainingState, model: MLP, optimizer, trainer: Trainer) -> None:
    """Put the saved weights, optimizer state and trainer position (its generator included)
    back, refusing a state that does not fit the network."""
    if state.params.shape != model.params.shape or state.params.dtype != model.params.dtype:
        raise RunError(f"{where}: resume.npz does not fit the run's network")
    model.params[:] = state.params
    try:
        optimizer.load_state_dict(state.optimizer)
        trainer.load_state_dict(state.trainer)
    except (KeyError, ValueError, TypeError) as err:
        raise RunError(f"{where}: resume.npz is damaged ({err})") from None


def _resumed_stopper(
    config: Config, history: list[EpochReport], state: TrainingState | None
) -> tuple[EarlyStopping | None, bool]:
    """Early stopping as it stood, and whether it had already stopped the run (killed after
    the stopping epoch, before the run was saved complete)."""
    stopper = _stopper(config)
    stopped = False
    if stopper is not None and state is not None:
        for report in history:  # its counters follow from the history; its best weights were saved
            stopped = stopper.update(report, state.params)
        stopper.best_params = state.best_params
    return stopper, stopped


def _resume(
    writer: RunWriter, run: Path, config_path: Path | None, overrides, dataset: Dataset | None
) -> Session:
    where = f"--resume {run}"
    complete = not writer.staged and completed_summary(writer.run_dir) is not None
    resumed = _resumed_config(writer, where, run, config_path, overrides)
    config = resumed.config
    state = writer.state()
    done = 0 if state is None else int(state.trainer["epochs_done"])
    status = None if state is None else state.info.get("status")
    epochs = config.train.epochs
    _check_more_to_train(where, writer, resumed, state, done, complete)
    if complete:  # extend a copy; the complete run stays as it is until the copy is done
        writer.begin_change(dump_config(config))

    rng = np.random.default_rng(config.seed)
    dataset = dataset if dataset is not None else _resumed_data(where, config)
    given = writer.has_data() and writer.data_record().get("split") == GIVEN_SPLIT
    split = writer.split() if given else draw_split(config, dataset, rng)
    if writer.has_data():
        _check_same_data(where, writer, dataset.record, split, resumed.moved)
    data, model, optimizer, trainer = _built(config, dataset, split, rng)
    if state is not None:
        _restore(where, state, model, optimizer, trainer)
    history = [EpochReport.from_record(record) for record in writer.metrics()[:done]]
    if len(history) != done:
        raise RunError(f"{where}: metrics.jsonl has fewer than the {done} epochs done")
    writer.rewrite_metrics([metrics_record(r) for r in history])
    writer.write_config(dump_config(config))
    if resumed.moved or not writer.has_data():  # killed before the data was recorded, or moved
        facts = data_facts(config, data)
        if writer.has_data():  # moved: the same run, so its start and its given split stay
            facts["started"] = writer.data_record().get("started", facts["started"])
        if given:
            facts["split"] = GIVEN_SPLIT
        writer.write_data(dataset.record, split, facts)
    stopper, stopped_early = _resumed_stopper(config, history, state)
    wall = 0.0 if state is None else float(state.info.get("wall_seconds", 0.0))
    return Session(
        config,
        config_path or writer.config_path,
        writer,
        data,
        model,
        optimizer,
        trainer,
        stopper=stopper,
        history=history,
        wall_seconds=wall,
        # killed while saving a finished run: nothing is left to train, only to save
        # (or after early stopping's last epoch: an uninterrupted run trains no further)
        training_done=stopped_early
        or (state is not None and status == "completed" and state.info.get("epochs") == epochs),
    )


def _moved_data(writer: RunWriter, config: Config) -> bool:
    """Whether the config's data file holds the very bytes the run recorded (SHA-256), so
    that `--set data.dataset=NEW` names the run's own data moved elsewhere."""
    if not writer.has_data():
        return False
    recorded = writer.data_record().get("source", {})
    path = Path(config.data.dataset)
    if recorded.get("kind") != "csv" or not path.is_file():
        return False
    return file_record(path)["sha256"] == recorded.get("sha256")


def _check_same_data(
    where: str, writer: RunWriter, source: dict, split: dict, moved: bool = False
) -> None:
    """The data and split a resumed run sees must be those it recorded when it started
    (its path aside when it `moved`)."""
    recorded = dict(writer.data_record()["source"])
    if moved:
        recorded["path"] = source.get("path")
    if recorded != source:
        raise RunError(f"{where}: {describe_data_change(recorded['source'], source)}")
    saved = writer.split()
    if saved.keys() != split.keys() or any(not np.array_equal(saved[k], split[k]) for k in saved):
        raise RunError(f"{where}: the data's split differs from the one the run recorded")


# -- helpers -----------------------------------------------------------------------------------


@contextlib.contextmanager
def stop_on_signals(trainer: Trainer) -> Iterator[list[int]]:
    """While training, Ctrl-C (SIGINT), SIGTERM and SIGHUP ask the trainer to stop after this
    batch. Later signals are only recorded: they must not interrupt the save that follows."""
    received: list[int] = []

    def handler(signum, frame):
        if not received:
            trainer.request_stop()
        received.append(signum)

    if threading.current_thread() is not threading.main_thread():
        yield received  # only the main thread may handle signals (e.g. a Dask thread worker)
        return
    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    try:
        yield received
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def metrics_record(report: EpochReport) -> dict:
    """One line of metrics.jsonl."""
    return report.record()


def split_figures(model: MLP, data: PreparedData) -> dict[str, dict]:
    """The model's loss and score (accuracy, or a regression's R^2, RMSE and MAE in the
    targets' own units, averaged over them) and the row count of every part the run has."""
    figures = {}
    for name, (X, y) in data.parts.items():
        result = evaluate(model, X, y)
        if data.dataset.task != "regression":
            figures[name] = {"loss": result.loss, "accuracy": result.accuracy, "n": len(y)}
            continue
        raw = regression_errors(data.dataset.y[data.split[name]], data.to_target_units(X, model))
        figures[name] = {
            "loss": result.loss,  # the objective, on the targets as trained
            "r2": float(raw.r2.mean()),
            "rmse": float(raw.rmse.mean()),
            "mae": float(raw.mae.mean()),
            "n": len(y),
        }
    return figures


@functools.cache
def versions() -> dict[str, str]:
    """Versions of the things a run's numbers depend on (read once per process)."""
    import platform
    from importlib import metadata

    found = {"python": platform.python_version(), "numpy": np.__version__}
    for dist in ("mlp-trainer", "scikit-learn"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[dist] = metadata.version(dist)
    return found
