"""How many BLAS threads the matrix products use: a fixed count, or `auto`, measured.

No fixed rule is right everywhere: on a quiet 2-core machine two threads make large products
about twice as fast, but with other programs busy they made training up to 7x slower
(benchmarks/README.md).
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
run, and training switches only at checks, at most one per RECHECK_SECONDS of training, so the
cost stays far below 1% even for 3 ms digits epochs.
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

# Training: `auto` times a probe (one batch's loss and gradient) at each count, in
# PROBE_ROUNDS interleaved rounds of at least PROBE_SECONDS each (a neighbour's load comes and
# goes within milliseconds: one short window can flatter either count, so it takes the median),
# before the first epoch and after every RECHECK_SECONDS of training (or RECHECK_FACTOR times
# what the last check cost, if more: checking then costs at most 5%).
PROBE_SECONDS = 0.01
PROBE_ROUNDS = 3
RECHECK_SECONDS = 10.0
RECHECK_FACTOR = 20.0
# More threads must be this much faster to be chosen: one thread is at most N times slower
# than N, but N threads on a loaded machine were up to 10x slower than one (benchmarks/
# threads.py), so a near tie goes to fewer threads.
MARGIN = 1.1
PROBE_ROWS = 4096  # a full-batch optimizer's probe is this many rows, not the whole set

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
    """The BLAS thread count while training, fixed or chosen by timing the training's work.

    With `auto`, before the first epoch and again after every RECHECK_SECONDS of training, a
    probe (one batch's loss and gradient, the run's own shapes and data, see `batch_probe`)
    is timed at each candidate count (see `_choose`); the faster count is kept.
    Whole epochs would be the most natural measurement, but a long epoch run at the slower
    count costs that whole epoch again: with 0.5 s MNIST epochs and 2 threads 4x slower under
    load, measured epochs made `auto` 2.5x slower than 1 thread over 2 epochs (benchmarks/
    threads.py --quick); probes cost about PROBE_ROUNDS x 2 x PROBE_SECONDS per check.
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
        self.current: int = self.counts[0]  # the count in use (the one used last, at the end)
        self.chosen_from: dict[int, float] = {}  # seconds per probe at the latest choice
        self.switches = 0  # changes of count after the first choice
        self.excluded: tuple[int, ...] = ()  # counts left out: they would change the numbers
        self.small = False  # `auto` on a run too small to be worth timing (for_training)
        self._recheck_at = 0.0  # training time of the next check
        self._trained = 0.0  # training time so far, as the clock measures it

    def keep_numbers(self, trainer: Trainer) -> None:
        """With `auto`, leave out the counts whose products differ from one thread's on this
        trainer's shapes (see the module's docstring)."""
        if self.setting != AUTO or len(self.counts) == 1:
            return
        agree = same_numbers(trainer, self.counts)
        self.excluded = tuple(c for c in self.counts if c not in agree)
        self.counts, self.current = agree, agree[0]

    def run(self, epochs: Iterator[T], probe: Callable[[], object]) -> Iterator[T]:
        """Yield what `epochs` yields, at the count chosen by timing `probe` (which must
        leave the training as it was), and restore the BLAS's own count when it ends,
        however it ends. Only the time inside the trainer counts towards a check."""
        blas = BlasThreads()
        try:
            if len(self.counts) > 1:
                self._choose(blas, probe)
            else:
                blas.set(self.current)
            while True:
                started = self.clock()
                try:
                    item = next(epochs)
                except StopIteration:
                    return
                self._trained += self.clock() - started
                if len(self.counts) > 1 and self._trained >= self._recheck_at:
                    self._choose(blas, probe)
                yield item
        finally:
            blas.restore()

    def _choose(self, blas: BlasThreads, probe: Callable[[], object]) -> None:
        """Time `probe` at each count in PROBE_ROUNDS interleaved rounds (as many probes each
        time as PROBE_SECONDS took at the first count) and keep the count with the lowest
        median, a higher count only if it beats the lower ones by MARGIN."""
        rounds: dict[int, list[float]] = {count: [] for count in self.counts}
        repeats, spent = 0, 0.0
        for round_ in range(PROBE_ROUNDS):
            for count in self.counts:
                blas.set(count)
                if round_ == 0:
                    probe()  # untimed: wakes the BLAS's threads and warms the caches
                started, done = self.clock(), 0
                while True:
                    probe()
                    done += 1
                    if done == repeats or (not repeats and self.clock() - started >= PROBE_SECONDS):
                        break
                repeats = repeats or done
                elapsed = self.clock() - started
                rounds[count].append(elapsed / done)
                spent += elapsed
        seconds = {count: float(np.median(times)) for count, times in rounds.items()}
        best = self.counts[0]
        for count in self.counts[1:]:  # ascending: a higher count must earn its place
            if seconds[count] * MARGIN < seconds[best]:
                best = count
        self.switches += bool(self.chosen_from) and best != self.current
        self.current, self.chosen_from = best, seconds
        blas.set(best)
        self._recheck_at = self._trained + max(RECHECK_SECONDS, RECHECK_FACTOR * spent)

    def describe(self) -> str:
        """For the `mlp train` header: the setting, before anything is measured."""
        if self.setting != AUTO:
            return f"{self.setting} (fixed)"
        if self.excluded:
            left_out = ", ".join(map(str, self.excluded))
            return f"1 (auto: {left_out} would change the numbers for this network's shapes)"
        if self.small:
            return "1 (auto: a small run, not worth timing)"
        if len(self.counts) == 1:
            return "1 (auto: this process may use one core)"
        listed = " or ".join(str(c) for c in self.counts)
        return f"auto ({listed}: the faster, timed again as training goes)"

    def report(self) -> str:
        """After training: the count used last and, for `auto`, what the timings were."""
        if self.setting != AUTO or len(self.counts) == 1:
            return f"{self.current}"
        timings = ", ".join(
            f"{1000 * seconds:.3g} ms at {count}"
            for count, seconds in sorted(self.chosen_from.items())
        )
        changed = f"; changed {self.switches} times" if self.switches else ""
        return f"{self.current} (auto; a batch took {timings} when last timed{changed})"


def batch_probe(trainer: Trainer) -> Callable[[], object]:
    """One batch's loss and gradient at the trainer's shapes (the first batch, in file order,
    at most PROBE_ROWS rows): what the thread count speeds up or slows down. It changes
    nothing the training keeps: the next step computes its own forward and backward pass."""
    first = trainer.batches[0]
    rows = slice(first.start, min(first.stop, first.start + PROBE_ROWS))
    X, y, wd = trainer.X[rows], trainer.y[rows], trainer.weight_decay
    return lambda: trainer.model.loss_and_grad(X, y, wd)


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


# Below this much arithmetic in all (multiply-adds of every training step, forward and
# backward), `auto` trains at one thread without measuring: the whole training takes well under
# a second on one core, and a check (two probes' worth of rounds and the agreement test, about
# 0.15 s for digits) would cost more than any thread count could save. Digits at 64-128-10,
# 40 epochs: 1.5e9.
AUTO_MIN_MULTIPLY_ADDS = 1e10


def for_training(setting: ThreadSetting, multiply_adds: float) -> TrainingThreads:
    """The thread counts of a training of `multiply_adds`: `auto` is one thread, unmeasured,
    for a small run."""
    if setting == AUTO and multiply_adds < AUTO_MIN_MULTIPLY_ADDS:
        threads = TrainingThreads(AUTO, counts=(1,))
        threads.small = True
        return threads
    return TrainingThreads(setting)


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
