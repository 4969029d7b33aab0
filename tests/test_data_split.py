"""Stratified, seeded train/validation/test splits."""

import numpy as np
import pytest

from data import DataError, load_dataset, split_dataset


@pytest.fixture(scope="module")
def iris():
    return load_dataset("iris")


def labelled(counts):
    """Samples whose single feature is their row number, so parts can be traced back."""
    y = np.repeat(np.arange(len(counts)), counts)
    return np.arange(len(y), dtype=np.float64).reshape(-1, 1), y


def test_iris_test_split_is_30_samples_10_per_class(iris):
    s = split_dataset(iris.X, iris.y, test_size=0.2, val_size=0.0, seed=0)
    assert np.bincount(s.y_test).tolist() == [10, 10, 10]  # 0.2 * 150 = 30, a third each
    assert np.bincount(s.y_train).tolist() == [40, 40, 40]
    assert s.X_test.shape == (30, 4) and s.X_train.shape == (120, 4)


def test_validation_is_a_fraction_of_what_the_test_split_leaves(iris):
    s = split_dataset(iris.X, iris.y, test_size=0.2, val_size=0.1, seed=0)
    # 30 for test; ceil(0.1 * 120) = 12 for validation; 108 to train
    assert [len(s.y_train), len(s.y_val), len(s.y_test)] == [108, 12, 30]
    assert np.bincount(s.y_val).tolist() == [4, 4, 4]
    assert np.bincount(s.y_train).tolist() == [36, 36, 36]


def test_unequal_classes_keep_their_proportions():
    X, y = labelled([60, 30, 10])  # 60% / 30% / 10%
    s = split_dataset(X, y, test_size=0.2, val_size=0.25, seed=5)
    assert np.bincount(s.y_test).tolist() == [12, 6, 2]  # 20 test samples in 60:30:10
    assert np.bincount(s.y_val).tolist() == [12, 6, 2]  # 25% of the remaining 48/24/8
    assert np.bincount(s.y_train).tolist() == [36, 18, 6]


def test_the_parts_partition_the_samples_and_keep_rows_with_their_labels():
    X, y = labelled([40, 25, 15])
    s = split_dataset(X, y, test_size=0.25, val_size=0.2, seed=1)
    rows = np.concatenate([s.X_train, s.X_val, s.X_test]).ravel().astype(int)
    assert sorted(rows.tolist()) == list(range(80))  # each sample in exactly one part
    for X_part, y_part in [(s.X_train, s.y_train), (s.X_val, s.y_val), (s.X_test, s.y_test)]:
        assert np.array_equal(y[X_part.ravel().astype(int)], y_part)


def test_the_test_part_is_scikit_learns_stratified_split_with_the_same_seed(iris):
    from sklearn.model_selection import train_test_split

    X_rest, X_test, y_rest, y_test = train_test_split(
        iris.X, iris.y, test_size=0.2, stratify=iris.y, random_state=7
    )
    s = split_dataset(iris.X, iris.y, test_size=0.2, val_size=0.0, seed=7)
    assert np.array_equal(s.X_test, X_test) and np.array_equal(s.y_test, y_test)
    assert np.array_equal(s.X_train, X_rest) and np.array_equal(s.y_train, y_rest)


def test_the_same_seed_gives_identical_parts_and_another_seed_different_ones(iris):
    def parts(seed):
        s = split_dataset(iris.X, iris.y, test_size=0.2, val_size=0.1, seed=seed)
        return [s.X_train, s.y_train, s.X_val, s.y_val, s.X_test, s.y_test]

    first, again, other = parts(11), parts(11), parts(12)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not np.array_equal(first[4], other[4]) and not np.array_equal(first[2], other[2])


def test_a_size_of_zero_leaves_that_part_out(iris):
    s = split_dataset(iris.X, iris.y, test_size=0.0, val_size=0.1, seed=0)
    assert s.X_test is None and s.y_test is None and len(s.y_val) == 15
    s = split_dataset(iris.X, iris.y, test_size=0.2, val_size=0.0, seed=0)
    assert s.X_val is None and s.y_val is None and len(s.y_train) == 120
    s = split_dataset(iris.X, iris.y, test_size=0.0, val_size=0.0, seed=0)
    assert s.X_val is None and s.X_test is None
    assert np.array_equal(s.X_train, iris.X) and np.array_equal(s.y_train, iris.y)


def test_the_parts_are_contiguous_float64_and_int64(iris):
    s = split_dataset(iris.X, iris.y, test_size=0.2, val_size=0.1, seed=0)
    for X_part, y_part in [(s.X_train, s.y_train), (s.X_val, s.y_val), (s.X_test, s.y_test)]:
        assert X_part.dtype == np.float64 and X_part.flags.c_contiguous
        assert y_part.dtype == np.int64


def split_error(X, y, **sizes):
    with pytest.raises(DataError) as info:
        split_dataset(X, y, **{"test_size": 0.0, "val_size": 0.0, "seed": 0, **sizes})
    message = str(info.value)
    assert "\n" not in message and "should be greater or equal" not in message  # not sklearn's
    return message


def test_too_few_test_samples_for_the_classes_says_which_split_and_why(iris):
    message = split_error(iris.X, iris.y, test_size=0.01)
    # ceil(0.01 * 150) = 2 test samples cannot hold one of each of 3 classes
    assert message.startswith("test_size=0.01 of 150 samples leaves 2 for test")
    assert "3 classes" in message and "stratified split" in message


def test_too_few_samples_left_to_train_says_so(iris):
    message = split_error(iris.X, iris.y, test_size=0.99)
    # ceil(0.99 * 150) = 149 for test leaves 1 for training and validation
    assert message.startswith("test_size=0.99 of 150 samples leaves 1 for training and validation")
    assert "3 classes" in message


def test_a_validation_split_that_fails_names_val_size_and_the_samples_it_had():
    X, y = labelled([4, 4, 4])
    # test: ceil(0.25 * 12) = 3 (one per class) leaves 9; val: ceil(0.1 * 9) = 1 < 3 classes
    message = split_error(X, y, test_size=0.25, val_size=0.1)
    assert message.startswith("val_size=0.1 of the 9 samples left after the test split")
    assert "leaves 1 for validation" in message and "3 classes" in message


def test_a_class_with_a_single_sample_cannot_be_stratified():
    X, y = labelled([5, 1, 5])
    message = split_error(X, y, test_size=0.5)
    assert message.startswith("test_size=0.5 of 11 samples: class index 1 has only 1 sample")
    assert "at least 2 of every class" in message


def test_a_class_left_with_one_sample_after_the_test_split_fails_the_validation_split():
    X, y = labelled([10, 10, 2])  # the test split takes one of class 2's two samples
    message = split_error(X, y, test_size=0.5, val_size=0.3)
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
    message = split_error(iris.X, iris.y, **sizes)
    assert message.startswith(culprit) and "at least 0 and less than 1" in message
