"""One `mlp train` run from start (or resumption) to a saved run directory.

A session owns the run directory while it trains. Whatever way training ends, the directory
says so: a completed run has `summary.json` (written last) and a final `model.npz`; an
interrupted or failed run has only `resume.npz`, marked with why it stopped, so it never looks
complete. `resume.npz` holds the weights, the optimizer's state, the position inside the epoch
and the random generator's state, which is all a resumed run needs to end bit-identical to an
uninterrupted one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cli.config import Config, config_to_dict, dump_config, load_config
from cli.experiment import (
    SPLITS,
    PreparedData,
    architecture,
    build_model,
    build_optimizer,
    prepare_data,
)
from cli.rundir import (
    CONFIG_FILE,
    METRICS_FILE,
    MODEL_FILE,
    RESUME_FILE,
    SUMMARY_FILE,
    RunError,
    append_metrics,
    check_out_dir,
    new_default_run,
    open_out_dir,
    read_metrics,
    remove_stale_temporaries,
    write_json,
    write_metrics,
    write_text,
)
from mlp import (
    MLP,
    Checkpoint,
    EpochReport,
    Trainer,
    TrainingDiverged,
    TrainingStopped,
    evaluate,
    save_checkpoint,
)
from mlp.checkpoint import TrainingState, load_training_state, save_training_state
from mlp.early_stopping import EarlyStopping
from mlp.optimizers import Optimizer
from mlp.schedules import make_schedule

# Seconds between the saves of a running run's state (at an epoch's end).
AUTOSAVE_SECONDS = 60.0

# The keys that may change on resuming: more epochs extend a run; anything else makes another run.
RESUMABLE_CHANGES = {"train.epochs"}


class Interrupted(Exception):
    """Training stopped on a signal; the state is saved. `signum` is the first signal."""

    def __init__(self, signum: int, epoch: int, batch: int) -> None:
        super().__init__(f"stopped after batch {batch} of epoch {epoch}")
        self.signum, self.epoch, self.batch = signum, epoch, batch


@dataclass
class Session:
    """Everything one run of training needs, and the directory it is saved in."""

    config: Config
    config_path: Path
    run_dir: Path
    data: PreparedData
    model: MLP
    optimizer: Optimizer
    trainer: Trainer
    stopper: EarlyStopping | None = None
    history: list[EpochReport] = field(default_factory=list)  # every epoch of the run so far
    wall_seconds: float = 0.0  # training time of earlier sessions of this run
    _last_good: np.ndarray = field(init=False)  # the weights at the end of the last epoch

    def __post_init__(self) -> None:
        self._last_good = self.model.params.copy()

    @property
    def resumed(self) -> bool:
        """True when this session continues an earlier one."""
        return bool(self.history) or self.trainer.batches_done > 0

    # -- training -------------------------------------------------------------------------

    def run(self, on_epoch: Callable[[EpochReport], None]) -> None:
        """Train to `train.epochs`, saving every epoch's metrics; on a signal or a divergence
        save the state, marked, and raise `Interrupted` or `TrainingDiverged`."""
        started = last_save = time.perf_counter()
        with stop_on_signals(self.trainer) as received:
            try:
                for report in self.trainer.run(self.config.train.epochs):
                    self.history.append(report)
                    append_metrics(self.run_dir / METRICS_FILE, metrics_record(report))
                    self._last_good = self.model.params.copy()
                    if time.perf_counter() - last_save >= AUTOSAVE_SECONDS:
                        # against what no handler sees (SIGKILL, a power cut): a long run
                        # loses at most this much if it is killed outright
                        self.save_state("running", time.perf_counter() - started)
                        last_save = time.perf_counter()
                    on_epoch(report)
                    if self.stopper is not None and self.stopper.update(report, self.model.params):
                        break
            except TrainingStopped as stop:
                self.wall_seconds += time.perf_counter() - started
                self.save_state("interrupted")
                raise Interrupted(received[0], stop.epoch, stop.batch) from None
            except TrainingDiverged:
                self.wall_seconds += time.perf_counter() - started
                self.save_state("failed")
                raise
        self.wall_seconds += time.perf_counter() - started

    def save_state(self, status: str, running_seconds: float = 0.0) -> None:
        """Write resume.npz: the latest finite weights and everything needed to continue.

        `running_seconds`: training time of this session not yet added to `wall_seconds`.
        """
        params = self.model.params
        if not np.isfinite(params).all():  # a weight overflowed in the last update
            params = self._last_good
        state = TrainingState(
            params=params,
            optimizer=self.optimizer.state_dict(),
            trainer=self.trainer.state_dict(),
            info={"status": status, "wall_seconds": self.wall_seconds + running_seconds},
            best_params=None if self.stopper is None else self.stopper.best_params,
        )
        save_training_state(self.run_dir / RESUME_FILE, state)

    def finish(self) -> dict:
        """Save the final model and the summary (last: it marks the run complete)."""
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
            if stopping and stopping.restore_best:
                self.model.params[:] = self.stopper.best_params
        dataset = self.data.dataset
        checkpoint = Checkpoint(
            self.model, dataset.classes, self.data.mean, self.data.scale, dataset.feature_names
        )
        save_checkpoint(self.run_dir / MODEL_FILE, checkpoint)
        summary = {
            "status": "completed",
            "run": str(self.run_dir),
            "config": str(self.config_path),
            "dataset": self.data.dataset.name,
            "architecture": architecture(self.model.layer_sizes),
            "n_params": self.model.n_params,
            "epochs": len(self.history),
            "best": best,
            "final": split_figures(self.model, self.data),
            "wall_seconds": self.wall_seconds,
            "versions": versions(),
        }
        write_json(self.run_dir / SUMMARY_FILE, summary)
        return summary


# -- starting and resuming -------------------------------------------------------------------


def _trainer(config: Config, data: PreparedData, model: MLP, optimizer, rng) -> Trainer:
    X_train, y_train = data.parts["train"]
    X_val, y_val = data.part("val") or (None, None)
    schedule = config.train.lr_schedule
    lr_schedule = None
    if schedule.name != "constant":
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
    )


def _stopper(config: Config) -> EarlyStopping | None:
    settings = config.train.early_stopping
    if settings is None:
        return None
    return EarlyStopping(settings.monitor, settings.patience, settings.min_delta)


def start_session(config: Config, config_path: Path, out: Path | None, overwrite: bool) -> Session:
    """A new run: everything is checked and loaded before the run directory is touched."""
    if out is not None:
        check_out_dir(out, overwrite)
    data = prepare_data(config)
    rng = np.random.default_rng(config.seed)  # the one generator: initial weights, then order
    model = build_model(config, data.dataset, rng)
    optimizer = build_optimizer(config)
    trainer = _trainer(config, data, model, optimizer, rng)
    run_dir = open_out_dir(out, overwrite) if out is not None else new_default_run(config_path.stem)
    write_text(run_dir / CONFIG_FILE, dump_config(config))
    return Session(
        config, config_path, run_dir, data, model, optimizer, trainer, stopper=_stopper(config)
    )


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


def resume_session(run: Path, config_path: Path | None, overrides) -> Session:
    """Continue the run in `run` exactly where it stopped (or extend a finished one)."""
    run_dir = run.parent if run.suffix == ".npz" else run
    if not (run_dir / RESUME_FILE).is_file():
        raise RunError(f"--resume {run}: no {RESUME_FILE} there, so nothing to resume from")
    state = load_training_state(run_dir / RESUME_FILE)
    saved = load_config(run_dir / CONFIG_FILE)
    config = load_config(config_path or run_dir / CONFIG_FILE, overrides)
    changed = [key for key in changed_keys(saved, config) if key not in RESUMABLE_CHANGES]
    if changed:
        raise RunError(
            f"--resume {run}: the config differs from the run's in {', '.join(changed)}; "
            "only train.epochs may change (start a new run for anything else)"
        )
    status, done = state.info.get("status"), int(state.trainer["epochs_done"])
    if status == "failed":
        raise RunError(f"--resume {run}: this run diverged; start a new one with a smaller lr")
    if config.train.epochs <= done and state.trainer["batches_done"] == 0:
        raise RunError(
            f"--resume {run}: {done} of {config.train.epochs} epochs are already done; "
            f"ask for more with --set train.epochs={done + config.train.epochs}"
        )
    data = prepare_data(config)
    rng = np.random.default_rng(config.seed)
    model = build_model(config, data.dataset, rng)
    if state.params.shape != model.params.shape or state.params.dtype != model.params.dtype:
        raise RunError(f"--resume {run}: {RESUME_FILE} does not fit the run's network")
    model.params[:] = state.params
    optimizer = build_optimizer(config)
    optimizer.load_state_dict(state.optimizer)
    trainer = _trainer(config, data, model, optimizer, rng)
    trainer.load_state_dict(state.trainer)  # the generator's state included
    history = [EpochReport(**record) for record in read_metrics(run_dir / METRICS_FILE)[:done]]
    if len(history) != done:
        raise RunError(f"--resume {run}: {METRICS_FILE} has fewer than the {done} epochs done")
    (run_dir / SUMMARY_FILE).unlink(missing_ok=True)  # not complete again until it finishes
    remove_stale_temporaries(run_dir)
    write_metrics(run_dir / METRICS_FILE, [metrics_record(r) for r in history])
    write_text(run_dir / CONFIG_FILE, dump_config(config))
    stopper = _stopper(config)
    if stopper is not None:  # its counters follow from the history; its best weights were saved
        for report in history:
            stopper.update(report, state.params)
        stopper.best_params = state.best_params
    wall = float(state.info.get("wall_seconds", 0.0))
    return Session(
        config,
        config_path or run_dir / CONFIG_FILE,
        run_dir,
        data,
        model,
        optimizer,
        trainer,
        stopper=stopper,
        history=history,
        wall_seconds=wall,
    )


# -- helpers -----------------------------------------------------------------------------------


@contextlib.contextmanager
def stop_on_signals(trainer: Trainer) -> Iterator[list[int]]:
    """While training, Ctrl-C (SIGINT) and SIGTERM ask the trainer to stop after this batch.

    Later signals are only recorded: they must not interrupt the save that follows.
    """
    received: list[int] = []

    def handler(signum, frame):
        if not received:
            trainer.request_stop()
        received.append(signum)

    if threading.current_thread() is not threading.main_thread():
        yield received  # only the main thread may handle signals (e.g. a Dask thread worker)
        return
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def metrics_record(report: EpochReport) -> dict:
    """One line of metrics.jsonl."""
    return {
        "epoch": report.epoch,
        "train_loss": report.train_loss,
        "train_accuracy": report.train_accuracy,
        "val_loss": report.val_loss,
        "val_accuracy": report.val_accuracy,
        "lr": report.lr,
        "seconds": report.seconds,
    }


def split_figures(model: MLP, data: PreparedData) -> dict[str, dict]:
    """Loss, accuracy and sample count of the model on every split the config has."""
    figures = {}
    for name in SPLITS:
        part = data.part(name)
        if part is not None:
            result = evaluate(model, *part)
            figures[name] = {"loss": result.loss, "accuracy": result.accuracy, "n": len(part[1])}
    return figures


def versions() -> dict[str, str]:
    """Versions of the things a run's numbers depend on."""
    import platform
    from importlib import metadata

    found = {"python": platform.python_version(), "numpy": np.__version__}
    for dist in ("mlp-trainer", "scikit-learn"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[dist] = metadata.version(dist)
    return found
