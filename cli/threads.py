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
run, and training switches only during a check, between blocks of at least BLOCK_SECONDS of
steps (2 x ROUNDS switches at most, once per RECHECK_SECONDS of training), so the cost stays
far below 1%.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import TypeVar

import numpy as np

from cli.usage import UsageError
from mlp import Trainer
from mlp.evaluation import predict_logits

AUTO = "auto"
ThreadSetting = int | str  # a fixed count >= 1, or AUTO

# Training: `auto` times the training's own steps (Trainer.after_step) at each count, in
# blocks that alternate between the counts (1, 2, 1, 2, ...), before the first epoch's steps
# and again after every RECHECK_SECONDS of training (or RECHECK_FACTOR times the steps the
# last check took, if more: checking then costs at most 5%). A step at the slower count costs
# only what it takes beyond the faster one, not a whole wasted probe, so a check can afford
# several rounds. Measured with benchmarks/threads.py's MNIST-sized network (784-256-10, batch
# 128, 7 to 9 ms a step) on our 2-core machine, quiet and with a busy-loop neighbour:
# - the first step after a switch is slower (at 2 threads its median was 7.9 ms against 7.2 ms
#   for the steps after it, its 90th percentile 42 ms: the BLAS's threads wake up), so it is
#   not timed;
BLOCK_SECONDS = 0.02  # - a block is the steps after that one until they took this long:
# a few MNIST-sized steps, a couple of hundred digits-sized ones, several of the scheduler's
# time slices, so one slice lost to a neighbour does not decide a round;
ROUNDS = 5  # - and a check is at most this many rounds of one block per count: about 0.2 s
# of steps, nearly free on a quiet machine (where the counts differ by a few percent) and
# ended after one round on a loaded one (see LOSE_LIMIT).
# A neighbour's load comes and goes within milliseconds, and it hurts more threads far more
# than fewer: one thread is at most N times slower than N, but with one core busy 2 threads
# took 4x as long as one per MNIST-sized step (and 3-10x in benchmarks/README.md). So a
# higher count must beat the fewer threads' median by MARGIN (a near tie goes to fewer)...
MARGIN = 1.1
# ...and a higher count that is LOSE_LIMIT times slower than fewer threads in any one round is
# out of this check at once, which also ends the check as soon as the load shows: a round at
# 2 threads with a neighbour busy was 2.7x to 13x slower than at one, while on a quiet machine
# 2 threads took 0.83x (7.2 against 8.7 ms a step). A round lost by chance costs at most what
# the higher count would have saved, until the next check.
LOSE_LIMIT = 1.5
# The first step after a switch is timed all the same when it took this long: waking the
# threads costs milliseconds (the 42 ms above at most), a small part of such a step, and
# leaving it out would cost a whole long step (a full-batch L-BFGS iteration, say) per block.
WAKE_UP_SECONDS = 10 * BLOCK_SECONDS
RECHECK_SECONDS = 10.0
RECHECK_FACTOR = 20.0

T = TypeVar("T")


def parse_threads(text: str) -> ThreadSetting:
    """`--threads` as given: a whole number >= 1, or "auto"."""
    value = text.strip().lower()
    if value == AUTO:
        return AUTO
    if not value.isdigit() or int(value) < 1:
        raise UsageError(f"--threads {text}: give a whole number >= 1, or auto")
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

    def set(self, count: int) -> None:
        """Use `count` threads from now on."""
        limiter = self._controller.limit(limits=count, user_api="blas")
        if self._original is None:
            self._original = limiter  # remembers the limits from before the first change

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


class Check:
    """One measurement of the candidate thread counts on the training's steps: feed it every
    step's seconds (`step`), run the next step at `count`, and read `best` once `done`.

    Each round times one block per count still in the running, ascending; the first step
    after a change of count is not timed, unless it took WAKE_UP_SECONDS or more. It is a
    pure calculation on the seconds it is given (no clock, no BLAS), so the choice can be
    tested with made-up step times.
    """

    def __init__(self, counts: tuple[int, ...]) -> None:
        self.running = list(counts)  # ascending, one thread first: those not yet out
        self.times: dict[int, list[float]] = {c: [] for c in counts}  # seconds per step
        self.count = counts[0]  # the count the next step runs at
        self.spent = 0.0  # seconds of the steps this check has timed or skipped
        self.done = False
        self.best = counts[0]
        self._round = 0
        self._skip = True  # the next step follows a change of count: not timed
        self._seconds, self._steps = 0.0, 0  # the block so far

    def step(self, seconds: float) -> None:
        """A step took `seconds` at `count`."""
        self.spent += seconds
        if self._skip:
            self._skip = False
            if seconds < WAKE_UP_SECONDS:
                return  # waking the threads may have cost more than the step
        self._seconds += seconds
        self._steps += 1
        if self._seconds >= BLOCK_SECONDS:
            self.times[self.count].append(self._seconds / self._steps)
            self._seconds, self._steps = 0.0, 0
            self._next_block()

    def _next_block(self) -> None:
        """After a block: leave out the count if it lost badly this round, then move on to
        the next count of the round, the next round, or the decision."""
        count, this_round = self.count, self._round
        fewer = [self.times[c][this_round] for c in self.running if c < count]
        if fewer and self.times[count][this_round] > LOSE_LIMIT * min(fewer):
            self.running.remove(count)
        later = [c for c in self.running if c > count]
        if later:
            self._use(later[0])
            return
        self._round += 1
        if self._round < ROUNDS and len(self.running) > 1:
            self._use(self.running[0])
            return
        self.best = self.running[0]
        medians = {c: float(np.median(self.times[c])) for c in self.running}
        for c in self.running[1:]:  # ascending: a higher count must earn its place
            if medians[c] * MARGIN < medians[self.best]:
                self.best = c
        self.done = True

    def _use(self, count: int) -> None:
        self._skip = self._skip or count != self.count
        self.count = count

    def seconds_per_step(self) -> dict[int, float]:
        """The median seconds per step of every count timed so far."""
        return {c: float(np.median(t)) for c, t in self.times.items() if t}


class TrainingThreads:
    """The BLAS thread count while training, fixed or chosen by timing the training's steps.

    With `auto`, on the first steps and again after every RECHECK_SECONDS of training, a
    `Check` times blocks of the training's own steps at each candidate count, switching
    counts between steps from the trainer's `after_step` hook; the faster count is kept.
    Probes (a batch's loss and gradient computed only to be timed) were what this did before:
    each cost a whole step, so there could be only a few short ones, and under load those
    chose 2 threads where they were 2.5x slower (benchmarks/README.md).
    """

    def __init__(self, setting: ThreadSetting, counts: tuple[int, ...] | None = None) -> None:
        self.setting = setting
        self.counts = (setting,) if setting != AUTO else (counts or candidates())
        self.current: int = self.counts[0]  # the count in use (the one used last, at the end)
        self.chosen_from: dict[int, float] = {}  # seconds per step at the latest choice
        self.switches = 0  # changes of count after the first choice
        self.excluded: tuple[int, ...] = ()  # counts left out: they would change the numbers
        self.small = False  # `auto` on a run too small to be worth timing (for_training)
        self.check: Check | None = None  # the check in progress, if any
        self.chosen: int | None = None  # what the latest check chose
        self._recheck_at = 0.0  # training time of the next check
        self._trained = 0.0  # seconds of training steps so far
        self._blas: BlasThreads | None = None

    def keep_numbers(self, trainer: Trainer) -> None:
        """With `auto`, leave out the counts whose products differ from one thread's on this
        trainer's shapes (see the module's docstring)."""
        if self.setting != AUTO or len(self.counts) == 1:
            return
        agree = same_numbers(trainer, self.counts)
        self.excluded = tuple(c for c in self.counts if c not in agree)
        self.counts, self.current = agree, agree[0]

    def run(self, epochs: Iterator[T], trainer: Trainer) -> Iterator[T]:
        """Yield what `epochs` (from `trainer.run`) yields at the chosen count, timing
        `trainer`'s steps through its `after_step` hook for `auto`; when it ends, however it
        ends, give the trainer back its hook and the BLAS its own count."""
        self._blas, previous = BlasThreads(), trainer.after_step
        try:
            self._blas.set(self.current)
            if len(self.counts) > 1:
                self.check = Check(self.counts)  # on the first steps (the first one untimed)
                trainer.after_step = self.after_step
            yield from epochs
        finally:
            trainer.after_step = previous
            self._blas.restore()
            self._blas = None

    def after_step(self, seconds: float) -> None:
        """The trainer's hook: a step took `seconds`; start, feed or end a check, and set the
        count the next step runs at."""
        self._trained += seconds
        if self.check is None:
            if self._trained < self._recheck_at:
                return
            self.check = Check(self.counts)
        else:
            self.check.step(seconds)
        check = self.check
        if check.done:
            self.switches += self.chosen is not None and check.best != self.chosen
            self.chosen = check.best
            self.chosen_from = check.seconds_per_step()
            self._recheck_at = self._trained + max(RECHECK_SECONDS, RECHECK_FACTOR * check.spent)
            self.check = None
        self._set(check.best if check.done else check.count)

    def _set(self, count: int) -> None:
        if count != self.current:
            self._blas.set(count)
            self.current = count

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
        if self.chosen is None:
            return f"{self.current} (auto; training ended before the first timing was done)"
        timings = ", ".join(
            f"{1000 * seconds:.3g} ms at {count}"
            for count, seconds in sorted(self.chosen_from.items())
        )
        changed = f"; changed {self.switches} times" if self.switches else ""
        return f"{self.current} (auto; a step took {timings} when last timed{changed})"


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
# a second on one core, and a check (the agreement test, and the rounds' steps at the slower
# count) would cost more than any thread count could save. Digits at 64-128-10, 40 epochs:
# 1.5e9.
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
