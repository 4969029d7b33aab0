"""--threads: the BLAS thread count, fixed or chosen by timing, never changing the numbers."""

import contextlib
import json
import math

import numpy as np
import pytest
from threadpoolctl import ThreadpoolController

from cli.threads import (
    AUTO,
    BLOCK_SECONDS,
    LOSE_LIMIT,
    MARGIN,
    RECHECK_FACTOR,
    RECHECK_SECONDS,
    ROUNDS,
    WAKE_UP_SECONDS,
    Check,
    TrainingThreads,
    candidates,
    parse_threads,
    same_numbers,
)
from cli.usage import UsageError
from mlp import MLP, Adam, Trainer


@pytest.mark.parametrize(("text", "expected"), [("auto", AUTO), ("AUTO", AUTO), ("3", 3)])
def test_threads_option_parses_a_count_or_auto(text, expected):
    assert parse_threads(text) == expected


@pytest.mark.parametrize("text", ["0", "-1", "two", "1.5", ""])
def test_threads_option_refuses_anything_else(text):
    with pytest.raises(UsageError, match="--threads"):
        parse_threads(text)


def run_check(seconds_per_step) -> tuple[Check, list[int]]:
    """Feed a check made-up step times, `seconds_per_step(count, round)`, until it is done;
    the check and the count each step ran at."""
    check, used = Check((1, 2)), []
    while not check.done:
        used.append(check.count)
        check.step(seconds_per_step(check.count, len(check.times[check.count])))
    return check, used


def block(seconds_per_step: float) -> int:
    """The steps of one block, by the rule cli/threads.py states: the first step after a change
    of count is not timed (unless it took WAKE_UP_SECONDS or more), then steps are timed until
    they took BLOCK_SECONDS."""
    untimed = 0 if seconds_per_step >= WAKE_UP_SECONDS else 1
    return untimed + math.ceil(BLOCK_SECONDS / seconds_per_step)


def test_a_check_times_blocks_of_steps_in_turn_and_keeps_the_faster():
    # 1/256 s a step at 1 thread, 1/512 s at 2 (binary fractions: the sums are exact).
    check, used = run_check(lambda count, round_: 1 / 256 if count == 1 else 1 / 512)
    one, two = block(1 / 256), block(1 / 512)  # 7 and 12 with today's constants
    assert used == ([1] * one + [2] * two) * ROUNDS
    assert check.best == 2
    assert check.seconds_per_step() == {1: 1 / 256, 2: 1 / 512}
    assert check.spent == ROUNDS * (one / 256 + two / 512)


@pytest.mark.parametrize(
    ("two_threads", "best"),
    [
        # faster by half the margin: a near tie goes to fewer threads
        ([1 / (1 + (MARGIN - 1) / 2)] * ROUNDS, 1),
        ([1 / (MARGIN * 1.1)] * ROUNDS, 2),  # faster by more than the margin
        # slower in one round, but by less than LOSE_LIMIT: the median decides
        ([0.5, 0.5, (1 + LOSE_LIMIT) / 2, *[0.5] * (ROUNDS - 3)], 2),
    ],
)
def test_a_higher_count_must_win_by_the_margin_in_the_median(two_threads, best):
    check, _ = run_check(lambda count, round_: 0.01 if count == 1 else 0.01 * two_threads[round_])
    assert len(check.times[1]) == len(check.times[2]) == ROUNDS  # every round ran
    assert check.best == best


def test_a_higher_count_that_loses_badly_in_one_round_is_out_at_once():
    # 1/128 s a step at 1 thread; 2 threads twice as fast in round 1, but in round 2 (a
    # neighbour's load) slower than one thread by twice LOSE_LIMIT
    slow = 2 * LOSE_LIMIT / 128
    two_threads = [1 / 256, slow]
    check, used = run_check(lambda count, round_: 1 / 128 if count == 1 else two_threads[round_])
    # the check ends after round 2, and 1 thread it is
    one = [1] * block(1 / 128)
    assert used == one + [2] * block(1 / 256) + one + [2] * block(slow) and check.done
    assert check.best == 1
    assert check.seconds_per_step() == {1: 1 / 128, 2: (1 / 256 + slow) / 2}


def test_a_long_first_step_after_a_switch_is_timed_too():
    # Steps (a full-batch iteration, say) longer than WAKE_UP_SECONDS and BLOCK_SECONDS at
    # both counts, 2 threads the faster: each step is a block by itself, and none is left
    # untimed, so a check costs 2 x ROUNDS steps, not 4 x ROUNDS.
    long = 2 * max(WAKE_UP_SECONDS, BLOCK_SECONDS)
    check, used = run_check(lambda count, round_: long if count == 1 else long / 2)
    assert used == [1, 2] * ROUNDS and check.best == 2
    assert check.spent == ROUNDS * (long + long / 2)


class FakeTrainer:
    """Epochs of `steps` steps whose seconds, reported to `after_step` as the real trainer
    does, depend on the BLAS thread count in effect: `cost(step, threads)`."""

    def __init__(self, cost, steps: int = 100):
        self.cost, self.steps, self.step = cost, steps, 0
        self.after_step = None
        self.used: list[int] = []  # the thread count each step ran with
        self.blas = ThreadpoolController().select(user_api="blas").lib_controllers[0]

    def run(self, epochs: int, fail_at: int | None = None):
        for epoch in range(1, epochs + 1):
            for _ in range(self.steps):
                self.step += 1
                if self.step == fail_at:
                    raise FloatingPointError("diverged")
                threads = self.blas.get_num_threads()
                self.used.append(threads)
                if self.after_step is not None:
                    self.after_step(self.cost(self.step, threads))
            yield epoch


def test_auto_keeps_the_faster_and_checks_again_as_training_goes():
    # 1/256 s a step at 1 thread. 2 threads take 1/128 s (a neighbour's load: slower by more
    # than LOSE_LIMIT) until a switch half-way between the second and third checks, 1/1024 s
    # after it.
    assert LOSE_LIMIT < 2
    slow, fast = block(1 / 256), block(1 / 128)
    first = slow + fast  # a check that ends after round 1: 1 thread kept
    # the next check after RECHECK_SECONDS of training at 1/256 s a step (longer than
    # RECHECK_FACTOR times the check's own cost, which would otherwise set the gap)
    gap = int(RECHECK_SECONDS * 256)
    assert RECHECK_FACTOR * (slow / 256 + fast / 128) < RECHECK_SECONDS
    second = first + gap  # where the second check starts
    third = 2 * (first + gap)  # and the third
    switch = (second + first + third) // 2

    def cost(step, threads):
        if threads == 1:
            return 1 / 256
        return 1 / 128 if step <= switch else 1 / 1024

    trainer = FakeTrainer(cost)
    tuner = TrainingThreads(AUTO, counts=(1, 2))
    assert list(tuner.run(trainer.run(60), trainer)) == list(range(1, 61))
    used = trainer.used
    assert used[:first] == [1] * slow + [2] * fast
    assert set(used[first : second + slow]) == {1}
    assert used[second + slow : second + first] == [2] * fast  # still slow: 1 thread kept
    assert set(used[second + first : third]) == {1}
    # the third check finds 2 threads 4x as fast: every round runs, and 2 threads after it
    rounds = ROUNDS * (slow + block(1 / 1024))
    assert used[third : third + rounds] == ([1] * slow + [2] * block(1 / 1024)) * ROUNDS
    assert set(used[third + rounds :]) == {2} and len(used) == 6000 > third + rounds
    assert tuner.current == 2 and tuner.switches == 1
    assert tuner.chosen_from == {1: 1 / 256, 2: 1 / 1024}


def test_a_run_that_ends_inside_the_first_check_says_so():
    trainer = FakeTrainer(lambda step, threads: 1 / 256, steps=5)
    tuner = TrainingThreads(AUTO, counts=(1, 2))
    assert list(tuner.run(trainer.run(1), trainer)) == [1]
    assert tuner.chosen is None
    assert tuner.report() == "1 (auto; training ended before the first timing was done)"


def hook(seconds: float) -> None:
    """Someone else's after_step, to be given back."""


@pytest.mark.parametrize("ending", ["finished", "broken off", "failed"])
def test_training_threads_give_back_the_hook_and_the_blas_count_however_training_ends(ending):
    # 1/64 s steps: blocks of 3 steps, so the first epoch already runs at both counts
    trainer = FakeTrainer(lambda step, threads: 1 / 64, steps=10)
    trainer.after_step = hook
    before = trainer.blas.get_num_threads()
    tuner = TrainingThreads(AUTO, counts=(1, 2))
    epochs = tuner.run(trainer.run(5, fail_at=25 if ending == "failed" else None), trainer)
    with contextlib.suppress(FloatingPointError):
        for epoch in epochs:
            assert trainer.after_step == tuner.after_step  # timing the steps
            if epoch == 2 and ending == "broken off":
                epochs.close()  # as Session.run does when it stops early
                break
    assert trainer.used[:10] == [1, 1, 1, 2, 2, 2, 1, 1, 1, 2]
    assert len(trainer.used) == {"finished": 50, "broken off": 20, "failed": 24}[ending]
    assert trainer.after_step is hook
    assert trainer.blas.get_num_threads() == before


def test_a_fixed_count_is_used_throughout_and_nothing_is_timed():
    trainer = FakeTrainer(lambda step, threads: 0.001, steps=10)
    before = trainer.blas.get_num_threads()
    other = 2 if before == 1 else 1
    for _ in TrainingThreads(other).run(trainer.run(3), trainer):
        assert trainer.after_step is None
    assert trainer.used == [other] * 30
    assert trainer.blas.get_num_threads() == before


def train_params(setting, rows: int, batch: int, hidden: list[int]) -> tuple[bytes, set[int]]:
    """Train a fresh network on synthetic data under `setting`; its weights' bytes and the
    thread counts its steps ran at. With `auto`, a step is reported to take 40 ms at one
    thread and 20 ms at two, whatever it took: two threads look faster, so `auto` runs steps
    at both where it may."""
    data = np.random.default_rng(5)
    X, X_val = data.standard_normal((rows, 64)), data.standard_normal((rows // 4, 64))
    y, y_val = data.integers(0, 10, rows), data.integers(0, 10, rows // 4)
    rng = np.random.default_rng(0)
    model = MLP([64, *hidden, 10], rng)
    trainer = Trainer(model, Adam(0.002), X, y, batch_size=batch, rng=rng, X_val=X_val, y_val=y_val)
    tuner = TrainingThreads(setting, counts=(1, 2))
    tuner.keep_numbers(trainer)
    blas, used = ThreadpoolController().select(user_api="blas").lib_controllers[0], set()

    def after_step(seconds: float) -> None:
        threads = blas.get_num_threads()
        used.add(threads)
        TrainingThreads.after_step(tuner, 0.04 if threads == 1 else 0.02)

    tuner.after_step = after_step
    for _ in tuner.run(trainer.run(4), trainer):
        pass
    assert trainer.after_step is None
    return model.params.tobytes(), used or {tuner.current}  # one count: no hook, no steps timed


def blas_api() -> str:
    """The BLAS NumPy calls: 'openblas', 'mkl', ..."""
    from threadpoolctl import threadpool_info

    np.ones((2, 2)) @ np.ones((2, 2))  # NumPy's BLAS is loaded by now
    return next((i["internal_api"] for i in threadpool_info() if i["user_api"] == "blas"), "")


@pytest.mark.skipif(
    blas_api() != "openblas",
    reason="which products sum the same at 1 and 2 threads was measured on OpenBLAS",
)
def test_a_run_is_bitwise_equal_at_one_and_two_threads():
    # 256-row batches into 256 units: products OpenBLAS splits between threads, with row
    # counts that are multiples of 4 and inner dimensions of 64 and 256.
    one, _ = train_params(1, rows=512, batch=256, hidden=[256])
    two, _ = train_params(2, rows=512, batch=256, hidden=[256])
    auto, used = train_params(AUTO, rows=512, batch=256, hidden=[256])
    assert one == two == auto
    assert used == {1, 2}  # auto's steps ran at both counts: it was free to


def test_auto_never_takes_a_count_that_changes_the_numbers():
    # A last batch of 269 rows and a 300-unit layer: OpenBLAS 0.3.31 sums some of these
    # products differently at 2 threads (see cli/threads.py), and 2 threads look faster.
    one, _ = train_params(1, rows=781, batch=256, hidden=[300])
    two, _ = train_params(2, rows=781, batch=256, hidden=[300])
    auto, used = train_params(AUTO, rows=781, batch=256, hidden=[300])
    if two == one:  # the test proves nothing where 2 threads give the same numbers
        pytest.skip("this BLAS sums these products alike at 1 and 2 threads: no hazard here")
    assert auto == one and used == {1}


def test_same_numbers_leaves_out_a_count_whose_gradient_differs(monkeypatch):
    rng = np.random.default_rng(0)
    model = MLP([4, 3, 2], rng)
    trainer = Trainer(model, Adam(0.01), np.ones((8, 4)), np.zeros(8, int), batch_size=8, rng=rng)
    blas = ThreadpoolController().select(user_api="blas").lib_controllers[0]
    honest = model.loss_and_grad

    def skewed(X, y, wd):  # one ulp off whenever more than one thread runs
        loss, grad = honest(X, y, wd)
        return loss, np.nextafter(grad, np.inf) if blas.get_num_threads() > 1 else grad

    assert same_numbers(trainer, (1, 2)) == (1, 2)
    monkeypatch.setattr(model, "loss_and_grad", skewed)
    assert same_numbers(trainer, (1, 2)) == (1,)


def test_train_shows_and_records_the_thread_count(mlp_cli, iris_config, tmp_path):
    out = tmp_path / "run"
    result = mlp_cli("train", "-c", iris_config, "--out", out, "--threads", "1")
    assert result.exit_code == 0, result.output
    assert "threads    1 (fixed)" in result.output
    assert "BLAS threads: 1" in result.output
    assert json.loads((out / "summary.json").read_text())["threads"] == 1


def test_auto_trains_iris_at_one_thread_and_says_why(mlp_cli, iris_config, tmp_path):
    # iris 4-8-3 (67 parameters), 108 training rows, 8 epochs: far under the timing threshold
    out = tmp_path / "run"
    result = mlp_cli("train", "-c", iris_config, "--out", out, "--threads", "auto")
    assert result.exit_code == 0, result.output
    assert "threads    1 (auto: a small run, not worth timing)" in result.output
    assert json.loads((out / "summary.json").read_text())["threads"] == 1


@pytest.mark.parametrize("command", ["train", "eval", "predict", "gradcheck", "cv"])
def test_a_bad_thread_count_is_one_line_and_exit_2(mlp_cli, iris_config, tmp_path, command):
    args = {
        "train": ["-c", iris_config],
        "eval": [tmp_path],
        "predict": [tmp_path, tmp_path / "x.csv"],
        "gradcheck": ["-c", iris_config],
        "cv": ["-c", iris_config],
    }[command]
    result = mlp_cli(command, *args, "--threads", "0")
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: --threads 0: give a whole number >= 1, or auto"


def test_cv_folds_run_one_at_a_time_use_the_given_count(mlp_cli, iris_config, tmp_path):
    out = tmp_path / "cv"
    result = mlp_cli(
        "cv", "-c", iris_config, "-k", "2", "--jobs", "1", "--threads", "2", "--out", out
    )
    assert result.exit_code == 0, result.output
    for fold in ("fold-1", "fold-2"):  # a sweep's or parallel cv's workers keep 1 thread
        assert json.loads((out / fold / "summary.json").read_text())["threads"] == 2


def test_auto_trains_a_small_run_at_one_thread_without_measuring():
    from cli.threads import AUTO_MIN_MULTIPLY_ADDS, for_training

    # digits 64-128-10 (9,610 parameters), 1,293 training rows, 40 epochs: 3 passes each
    digits = 3 * 9610 * 1293 * 40
    assert digits < AUTO_MIN_MULTIPLY_ADDS
    small = for_training(AUTO, digits)
    assert small.counts == (1,) and small.describe() == "1 (auto: a small run, not worth timing)"
    # 784-256-10 (203,530 parameters) on 60,000 rows: one epoch is enough to be measured
    assert len(for_training(AUTO, 3 * 203_530 * 60_000).counts) == len(candidates())
    assert for_training(2, digits).counts == (2,)  # a fixed count is the user's choice
