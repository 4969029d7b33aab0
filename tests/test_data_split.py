"""Stratified, seeded train/validation/test splits, in NumPy alone."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from data import DataError, load_dataset, split_indices, stratified_folds

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def iris():
    return load_dataset("iris")


def labels(counts):
    """Class k repeated counts[k] times, in order."""
    return np.repeat(np.arange(len(counts)), counts)


def split(y, seed=0, **sizes):
    sizes = {"test_size": 0.0, "val_size": 0.0, **sizes}
    return split_indices(y, rng=np.random.default_rng(seed), **sizes)


def per_class(y, rows):
    return np.bincount(y[rows], minlength=y.max() + 1).tolist()


def test_iris_test_split_is_30_samples_10_per_class(iris):
    s = split(iris.y, test_size=0.2)
    assert per_class(iris.y, s.test) == [10, 10, 10]  # 0.2 * 150 = 30, a third each
    assert per_class(iris.y, s.train) == [40, 40, 40]
    assert len(s.val) == 0


def test_validation_is_a_fraction_of_what_the_test_split_leaves(iris):
    s = split(iris.y, test_size=0.2, val_size=0.1)
    # 30 for test; ceil(0.1 * 120) = 12 for validation; 108 to train
    assert [len(s.train), len(s.val), len(s.test)] == [108, 12, 30]
    assert per_class(iris.y, s.val) == [4, 4, 4]
    assert per_class(iris.y, s.train) == [36, 36, 36]


def test_unequal_classes_keep_their_proportions():
    y = labels([60, 30, 10])  # 60% / 30% / 10%
    for seed in range(5):
        s = split(y, seed, test_size=0.2, val_size=0.25)
        assert per_class(y, s.test) == [12, 6, 2]  # 20 test samples in 60:30:10
        assert per_class(y, s.val) == [12, 6, 2]  # 25% of the remaining 48/24/8
        assert per_class(y, s.train) == [36, 18, 6]


def test_the_rounding_goes_to_the_largest_remainders():
    y = labels([5, 3, 2])
    # ceil(0.3 * 10) = 3 held out; exact shares 1.5, 0.9, 0.6: whole parts 1, 0, 0, and the
    # two left over go to the remainders .9 and .6, not .5
    for seed in range(10):
        assert per_class(y, split(y, seed, test_size=0.3).test) == [1, 1, 1]


def test_equal_remainders_are_broken_at_random_each_class_within_one_of_its_share():
    y = labels([4, 4, 4])
    # ceil(0.3 * 12) = 4 held out; each class's share is 4/3: one class of the three gets 2
    favoured = set()
    for seed in range(40):
        counts = per_class(y, split(y, seed, test_size=0.3).test)
        assert sorted(counts) == [1, 1, 2]
        favoured.add(counts.index(2))
    assert favoured == {0, 1, 2}


def test_no_class_is_held_out_whole_when_another_can_take_the_extra_sample():
    y = labels([2, 9, 9])
    # ceil(0.8 * 20) = 16; shares 1.6, 7.2, 7.2. The largest remainder (.6) would hold out
    # both samples of class 0 and leave none to train on; a class of 9 takes the extra instead.
    for seed in range(10):
        s = split(y, seed, test_size=0.8)
        assert per_class(y, s.test) in ([1, 8, 7], [1, 7, 8])
        assert per_class(y, s.train)[0] == 1


def test_the_parts_partition_the_rows_sorted_and_as_int64():
    y = labels([40, 25, 15])
    s = split(y, 1, test_size=0.25, val_size=0.2)
    rows = np.concatenate([s.train, s.val, s.test])
    assert sorted(rows.tolist()) == list(range(80))  # each row in exactly one part
    for part in (s.train, s.val, s.test):
        assert part.dtype == np.int64 and (np.diff(part) > 0).all()
    assert list(s.parts()) == ["train", "val", "test"]


def test_the_same_generator_state_gives_the_same_split_and_another_seed_another(iris):
    def rows(rng):
        s = split_indices(iris.y, test_size=0.2, val_size=0.1, rng=rng)
        return s.train, s.val, s.test

    first, again = rows(np.random.default_rng(11)), rows(np.random.default_rng(11))
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    other = rows(np.random.default_rng(12))
    assert not np.array_equal(first[2], other[2]) and not np.array_equal(first[1], other[1])
    rng = np.random.default_rng(11)
    rng.random()  # the same seed, but the generator has moved on
    assert not np.array_equal(rows(rng)[2], first[2])


def test_every_row_is_equally_likely_to_be_held_out(iris):
    # Over 400 seeds each row should land in test about 0.2 * 400 = 80 times (binomial,
    # standard deviation 8); 40 and 120 are five deviations away, so only a bias fails.
    times = np.zeros(150, dtype=int)
    for seed in range(400):
        times[split(iris.y, seed, test_size=0.2).test] += 1
    assert times.min() > 40 and times.max() < 120
    assert abs(times.mean() - 80) < 1e-9  # exactly 30 of 150 each time


def test_a_size_of_zero_leaves_that_part_empty_and_draws_nothing(iris):
    s = split(iris.y, test_size=0.0, val_size=0.1)
    assert len(s.test) == 0 and s.test.dtype == np.int64 and len(s.val) == 15
    assert list(s.parts()) == ["train", "val"]
    s = split(iris.y, test_size=0.2, val_size=0.0)
    assert len(s.val) == 0 and len(s.train) == 120
    rng = np.random.default_rng(0)
    before = rng.bit_generator.state
    s = split_indices(iris.y, test_size=0.0, val_size=0.0, rng=rng)
    assert rng.bit_generator.state == before
    assert s.train.tolist() == list(range(150)) and list(s.parts()) == ["train"]


@pytest.mark.slow
def test_splitting_a_csv_never_imports_scikit_learn(tmp_path):
    csv = tmp_path / "small.csv"
    csv.write_text("a,b,label\n" + "".join(f"{i},{i % 3},c{i % 2}\n" for i in range(20)))
    script = (
        "import sys\nimport numpy as np\nfrom data import load_dataset, split_indices\n"
        f"d = load_dataset({str(csv)!r})\n"
        "s = split_indices(d.y, test_size=0.2, val_size=0.1, rng=np.random.default_rng(0))\n"
        "print(len(s.train), len(s.val), len(s.test), 'sklearn' in sys.modules)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
    )
    # ceil(0.2 * 20) = 4 test, ceil(0.1 * 16) = 2 validation, 14 to train
    assert out.stdout.split() == ["14", "2", "4", "False"]


def split_error(y, **sizes):
    with pytest.raises(DataError) as info:
        split(y, **sizes)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_too_few_test_samples_for_the_classes_says_which_split_and_why(iris):
    message = split_error(iris.y, test_size=0.01)
    # ceil(0.01 * 150) = 2 test samples cannot hold one of each of 3 classes
    assert message.startswith("test_size=0.01 of 150 samples leaves 2 for test")
    assert "3 classes" in message and "stratified split" in message


def test_too_few_samples_left_to_train_says_so(iris):
    message = split_error(iris.y, test_size=0.99)
    # ceil(0.99 * 150) = 149 for test leaves 1 for training and validation
    assert message.startswith("test_size=0.99 of 150 samples leaves 1 for training and validation")
    assert "3 classes" in message


def test_a_validation_split_that_fails_names_val_size_and_the_samples_it_had():
    y = labels([4, 4, 4])
    # test: ceil(0.25 * 12) = 3 (one per class) leaves 9; val: ceil(0.1 * 9) = 1 < 3 classes
    message = split_error(y, test_size=0.25, val_size=0.1)
    assert message.startswith("val_size=0.1 of the 9 samples left after the test split")
    assert "leaves 1 for validation" in message and "3 classes" in message


def test_a_class_with_a_single_sample_cannot_be_stratified():
    message = split_error(labels([5, 1, 5]), test_size=0.5)
    assert message.startswith("test_size=0.5 of 11 samples: class index 1 has only 1 sample")
    assert "at least 2 of every class" in message


def test_a_class_left_with_one_sample_after_the_test_split_fails_the_validation_split():
    y = labels([10, 10, 2])  # ceil(0.5 * 22) = 11 for test, one of class 2's two samples
    message = split_error(y, test_size=0.5, val_size=0.3)
    assert message.startswith("val_size=0.3 of the 11 samples left after the test split")
    assert "class index 2 has only 1 sample" in message


@pytest.mark.parametrize(
    ("sizes", "culprit"),
    [
        ({"test_size": 1.0}, "test_size=1.0"),
        ({"test_size": -0.1}, "test_size=-0.1"),
        ({"val_size": float("nan")}, "val_size=nan"),
        ({"val_size": 1.5}, "val_size=1.5"),
    ],
)
def test_a_size_outside_zero_to_one_is_refused(iris, sizes, culprit):
    message = split_error(iris.y, **sizes)
    assert message.startswith(culprit) and "at least 0 and less than 1" in message


def test_prepared_data_records_the_rows_of_each_part(iris):
    from cli.config import parse_config
    from cli.experiment import prepare_data

    data = prepare_data(
        parse_config({"seed": 5, "data": {"dataset": "iris"}}), np.random.default_rng(5)
    )
    assert list(data.split) == list(data.parts) == ["train", "val", "test"]
    rows = np.concatenate(list(data.split.values()))
    assert sorted(rows.tolist()) == list(range(150))
    for name, (X, y) in data.parts.items():
        assert np.array_equal(y, iris.y[data.split[name]])
        np.testing.assert_allclose(X * data.scale + data.mean, iris.X[data.split[name]])


# -- stratified K-fold --------------------------------------------------------------------


@given(
    counts=st.lists(st.integers(5, 40), min_size=1, max_size=5),
    k=st.integers(2, 5),
    seed=st.integers(0, 2**32 - 1),
)
@settings(max_examples=60, deadline=None)
def test_folds_hold_every_row_once_with_each_class_within_one_of_its_share(counts, k, seed):
    y = np.random.default_rng(seed).permutation(labels(counts))
    folds = stratified_folds(y, k, np.random.default_rng(seed))
    assert len(folds) == k
    every = np.concatenate(folds)
    assert np.array_equal(np.sort(every), np.arange(len(y)))  # each row in exactly one fold
    for fold in folds:
        assert np.all(np.diff(fold) > 0)  # sorted, no repeats
        assert abs(len(fold) - len(y) / k) < 1
        for c, count in enumerate(counts):
            assert abs(np.sum(y[fold] == c) - count / k) < 1


def test_folds_of_seven_and_five_in_three(iris):
    # 12 rows in 3 folds: 4 each; class 0's 7 rows as 3 + 2 + 2, class 1's 5 as 1 + 2 + 2
    y = labels([7, 5])
    folds = stratified_folds(y, 3, np.random.default_rng(0))
    assert [len(f) for f in folds] == [4, 4, 4]
    assert sorted(per_class(y, f)[0] for f in folds) == [2, 2, 3]
    assert sorted(per_class(y, f)[1] for f in folds) == [1, 2, 2]
    # iris: 150 rows, 50 of each class, in 5 folds of 30 with 10 of each class
    folds = stratified_folds(iris.y, 5, np.random.default_rng(1))
    assert all(per_class(iris.y, f) == [10, 10, 10] for f in folds)


def test_folds_are_the_generators_and_refuse_what_cannot_be_stratified():
    y = labels([6, 6])
    one = stratified_folds(y, 3, np.random.default_rng(4))
    two = stratified_folds(y, 3, np.random.default_rng(4))
    other = stratified_folds(y, 3, np.random.default_rng(5))
    assert all(np.array_equal(a, b) for a, b in zip(one, two))
    assert any(not np.array_equal(a, b) for a, b in zip(one, other))
    with pytest.raises(DataError, match="class index 1 has only 2 samples, fewer than the folds"):
        stratified_folds(labels([6, 2]), 3, np.random.default_rng(0))
    with pytest.raises(DataError, match="folds=1: must be an integer of at least 2"):
        stratified_folds(y, 1, np.random.default_rng(0))
