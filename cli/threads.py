"""How many BLAS threads the matrix products use: a fixed count, or `auto`, measured.

No fixed rule is right everywhere: on a quiet 2-core machine two threads make large products
about twice as fast, but with one core busy elsewhere they make training 1.5 to 2.5x slower.
So `auto` times the real work at each candidate count (1 and the cores this process may use)
and keeps the faster, and training measures again now and then because load changes.

The thread count must never change the numbers, and with OpenBLAS it sometimes does: 1 and
2 threads agree bit for bit on most shapes, but not (measured with OpenBLAS 0.3.31, float32
and float64) when a product's row count is odd or 2 mod 4 (its last rows then go through
other kernels), nor for some inner dimensions (257 to 300, 500, 513, ...; the inner sums are
then blocked differently). A last batch of 269 rows, a validation set of 1293, or a hidden
layer of 300 units is enough. So `auto` first computes, at each candidate count, the gradient
of a full batch and of the last batch and the validation logits, with the run's own shapes
and weights; only the counts that agree bit for bit with one thread are candidates (the
shapes, not the values, decide which kernels run, so agreement on these is agreement for the
whole run). A fixed `--threads N` is the user's choice and is used as given.

Switching costs little but not nothing: building a `ThreadpoolController` (which scans the
loaded libraries) took 0.3 ms here, and each `limit` call 13 us. A controller is built once per
command, and training switches only between stretches of at least STRETCH_SECONDS, so the cost
stays far below 1% even for 3 ms digits epochs.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import numpy as np

from cli.rundir import RunError
from mlp import Trainer
from mlp.evaluation import predict_logits

AUTO = "auto"
ThreadSetting = int | str  # a fixed count >= 1, or AUTO

# Training: a stretch is the run of whole epochs at one count between two possible switches;
# it ends at the first epoch boundary after this much training time.
STRETCH_SECONDS = 0.05
# Training time between two checks of the count not in use; at least RECHECK_FACTOR times the
# last check's cost, so that checking (a stretch at what may be the slower count) costs at
# most 1 / RECHECK_FACTOR of the run per unit of slowdown, however long an epoch takes.
RECHECK_SECONDS = 10.0
RECHECK_FACTOR = 20.0

T = TypeVar("T")


def parse_threads(text: str) -> ThreadSetting:
    """`--threads` as given: a whole number >= 1, or "auto"."""
    value = text.strip().lower()
    if value == AUTO:
        return AUTO
    if not value.isdigit() or int(value) < 1:
        raise RunError(f"--threads {text}: give a whole number >= 1, or auto")
    return int(value)


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity where the system has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(len(os.sched_getaffinity(0)), 1)
    return os.cpu_count() or 1


def candidates() -> tuple[int, ...]:
    """The counts `auto` chooses between: one thread, and one per available core."""
    return tuple(sorted({1, available_cores()}))


class BlasThreads:
    """Sets the BLAS thread count of this process; `restore` puts back what it found."""

    def __init__(self) -> None:
        from threadpoolctl import ThreadpoolController

        self._controller = ThreadpoolController()  # the slow part: scans the loaded libraries
        self._original = None
        self.count: int | None = None

    def set(self, count: int) -> None:
        """Use `count` threads from now on."""
        limiter = self._controller.limit(limits=count, user_api="blas")
        if self._original is None:
            self._original = limiter  # remembers the limits from before the first change
        self.count = count

    def restore(self) -> None:
        """Give the BLAS back the thread count it had before the first `set`."""
        if self._original is not None:
            self._original.restore_original_limits()
            self._original = None


def blas_thread_count() -> int | None:
    """The BLAS thread count in effect now (None when no BLAS is found)."""
    from threadpoolctl import threadpool_info

    counts = [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]
    return max(counts) if counts else None


class TrainingThreads:
    """The BLAS thread count while training, fixed or chosen by timing the epochs themselves.

    With `auto`, the first stretches run at each candidate count in turn; the count with the
    fewest seconds per epoch is kept. Every RECHECK_SECONDS of training (or longer, see
    RECHECK_FACTOR) one stretch runs at each other count, and the faster is kept again. Only
    the time inside the trainer is measured, not what the caller does between epochs.
    """

    def __init__(
        self,
        setting: ThreadSetting,
        counts: tuple[int, ...] | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.setting = setting
        self.counts = (setting,) if setting != AUTO else (counts or candidates())
        self.clock = clock
        self.seconds_per_epoch: dict[int, float] = {}  # the latest stretch at each count
        self.chosen_from: dict[int, float] = {}  # seconds per epoch at the latest choice
        self.switches = 0  # changes of count after the first choice
        self.current: int = self.counts[0]  # the count in use (the one used last, at the end)
        self._to_measure: list[int] = list(self.counts) if len(self.counts) > 1 else []
        self._measuring = len(self.counts) > 1  # a stretch at each candidate is under way
        self._before: int | None = None  # the count chosen before the check under way
        self._recheck_at = 0.0  # training time of the next check
        self._trained = 0.0  # training time so far, as the clock measures it
        self._stretch_seconds = 0.0
        self._stretch_epochs = 0
        self.excluded: tuple[int, ...] = ()  # counts left out: they would change the numbers

    def keep_numbers(self, trainer: Trainer) -> None:
        """With `auto`, leave out the counts whose products differ from one thread's on this
        trainer's shapes (see the module's docstring)."""
        if self.setting != AUTO or len(self.counts) == 1:
            return
        agree = same_numbers(trainer, self.counts)
        self.excluded = tuple(c for c in self.counts if c not in agree)
        self.counts = agree
        self._to_measure = list(agree) if len(agree) > 1 else []
        self._measuring = len(agree) > 1
        self.current = agree[0]

    def run(self, epochs: Iterator[T]) -> Iterator[T]:
        """Yield what `epochs` yields, setting the thread count for each stretch of epochs
        (and restoring the original count when it ends, however it ends)."""
        blas = BlasThreads()
        try:
            self.current = self._to_measure.pop(0) if self._to_measure else self.current
            blas.set(self.current)
            first = True
            while True:
                started = self.clock()
                try:
                    item = next(epochs)
                except StopIteration:
                    return
                seconds = self.clock() - started
                # A short first epoch also pays for warming up (first allocations, cold
                # caches): it would make the first count measured look slow, and it is
                # cheap to leave out. A long one is mostly training, and too dear to waste.
                if first and seconds < STRETCH_SECONDS:
                    self._trained += seconds
                else:
                    self._add_epoch(seconds)
                first = False
                if self._stretch_seconds >= STRETCH_SECONDS:
                    self._end_stretch()
                    if blas.count != self.current:
                        blas.set(self.current)
                yield item
        finally:
            blas.restore()

    def _add_epoch(self, seconds: float) -> None:
        self._trained += seconds
        self._stretch_seconds += seconds
        self._stretch_epochs += 1

    def _end_stretch(self) -> None:
        """Record the stretch just run and pick the count for the next one."""
        self.seconds_per_epoch[self.current] = self._stretch_seconds / self._stretch_epochs
        last_stretch = self._stretch_seconds
        self._stretch_seconds, self._stretch_epochs = 0.0, 0
        if len(self.counts) == 1:
            return
        if self._to_measure:  # measuring: the next candidate
            self.current = self._to_measure.pop(0)
        elif self._measuring:  # every candidate measured: keep the fastest
            best = min(self.seconds_per_epoch, key=self.seconds_per_epoch.__getitem__)
            self.switches += self._before is not None and best != self._before
            self.current, self._measuring = best, False
            self.chosen_from = dict(self.seconds_per_epoch)
            self._recheck_at = self._trained + max(RECHECK_SECONDS, RECHECK_FACTOR * last_stretch)
        elif self._trained >= self._recheck_at:  # a check: one stretch at each other count
            self._measuring, self._before = True, self.current
            self._to_measure = [c for c in self.counts if c != self.current]
            self.current = self._to_measure.pop(0)

    def describe(self) -> str:
        """For the `mlp train` header: the setting, before anything is measured."""
        if self.setting != AUTO:
            return f"{self.setting} (fixed)"
        if self.excluded:
            left_out = ", ".join(map(str, self.excluded))
            return f"1 (auto: {left_out} would change the numbers for this network's shapes)"
        if len(self.counts) == 1:
            return "1 (auto: this process may use one core)"
        listed = " or ".join(str(c) for c in self.counts)
        return f"auto ({listed}, whichever trains faster; timed again as training goes)"

    def report(self) -> str:
        """After training: the count used last and, for `auto`, what the timings were."""
        if self.setting != AUTO or len(self.counts) == 1:
            return f"{self.current}"
        if not self.chosen_from:
            return f"{self.current} (auto; training ended before every count was timed)"
        timings = ", ".join(
            f"{1000 * seconds:.3g} ms at {count}"
            for count, seconds in sorted(self.chosen_from.items())
        )
        changed = f"; changed {self.switches} times" if self.switches else ""
        return f"{self.current} (auto; epochs took {timings} when last timed{changed})"


def same_numbers(trainer: Trainer, counts: tuple[int, ...]) -> tuple[int, ...]:
    """The counts (1 first) at which a full batch's and the last batch's loss and gradient,
    and the validation logits, are bitwise those at one thread, at the model's weights now."""
    model, wd = trainer.model, trainer.weight_decay
    batches = {b.stop - b.start: b for b in trainer.batches}.values()  # one of each size

    def results() -> list[bytes]:
        out = []
        for batch in batches:
            loss, grad = model.loss_and_grad(trainer.X[batch], trainer.y[batch], wd)
            out += [np.float64(loss).tobytes(), grad.tobytes()]
        if trainer.X_val is not None and len(trainer.X_val):
            out.append(predict_logits(model, trainer.X_val).tobytes())
        return out

    blas, found = BlasThreads(), {}
    try:
        for count in sorted(set(counts) | {1}):
            blas.set(count)
            found[count] = results()
    finally:
        blas.restore()
    return tuple(c for c in sorted(found) if c in counts and found[c] == found[1])


def one_shot_count(setting: ThreadSetting) -> int:
    """The thread count for eval, predict and gradcheck: a fixed setting as given; `auto` is
    1. A one-shot pass is short next to the command's start-up (scoring MNIST's 10,000 test
    rows at 784-256-10 takes ~0.1 s at one thread), and one thread gives the numbers
    `auto` training reports for the run's own parts."""
    return 1 if setting == AUTO else int(setting)


@contextlib.contextmanager
def using(count: int) -> Iterator[None]:
    """Run the block with `count` BLAS threads, then restore the count there was."""
    blas = BlasThreads()
    blas.set(count)
    try:
        yield
    finally:
        blas.restore()
