"""Datasets, CSV files, stratified splits and standardisation."""

import numpy as np
import pytest

from data import DATASETS, DataError, fit_standardizer, load_dataset, split_dataset, standardize


@pytest.mark.parametrize("name", list(DATASETS))
def test_registry_sizes_match_the_loaded_data(name):
    info, dataset = DATASETS[name], load_dataset(name)
    assert (dataset.n_samples, dataset.n_features, dataset.n_classes) == (
        info.n_samples,
        info.n_features,
        info.n_classes,
    )
    assert dataset.X.dtype == np.float64 and np.isfinite(dataset.X).all()
    assert dataset.y.min() == 0 and dataset.y.max() == info.n_classes - 1


def test_known_sizes_of_the_bundled_sets():
    # from scikit-learn's documentation of each loader
    expected = {"digits": (1797, 64, 10), "iris": (150, 4, 3), "wine": (178, 13, 3)}
    expected["breast_cancer"] = (569, 30, 2)
    for name, shape in expected.items():
        info = DATASETS[name]
        assert (info.n_samples, info.n_features, info.n_classes) == shape
    assert np.bincount(load_dataset("iris").y).tolist() == [50, 50, 50]


def test_unknown_dataset_lists_the_choices():
    with pytest.raises(DataError, match=r"digits, iris, wine, breast_cancer.*csv"):
        load_dataset("mnist")


def test_stratified_split_sizes_and_class_proportions():
    iris = load_dataset("iris")
    s = split_dataset(iris.X, iris.y, test_size=0.2, val_size=0.1, seed=0)
    assert np.bincount(s.y_test).tolist() == [10, 10, 10]  # 30 test samples, 10 per class
    assert len(s.y_val) == 12 and len(s.y_train) == 108  # ceil(0.1 * 120) = 12
    assert np.bincount(s.y_val).tolist() == [4, 4, 4]
    together = np.concatenate([s.X_train, s.X_val, s.X_test])
    assert sorted(map(tuple, together)) == sorted(map(tuple, iris.X))  # a partition


def test_split_is_reproducible_from_the_seed_and_zero_sizes_leave_parts_out():
    iris = load_dataset("iris")
    a = split_dataset(iris.X, iris.y, test_size=0.2, val_size=0.0, seed=1)
    b = split_dataset(iris.X, iris.y, test_size=0.2, val_size=0.0, seed=1)
    c = split_dataset(iris.X, iris.y, test_size=0.2, val_size=0.0, seed=2)
    assert np.array_equal(a.X_test, b.X_test) and not np.array_equal(a.X_test, c.X_test)
    assert a.X_val is None and a.y_val is None
    none = split_dataset(iris.X, iris.y, test_size=0.0, val_size=0.0, seed=0)
    assert none.X_test is None and len(none.y_train) == 150


def test_a_split_too_small_to_stratify_says_why():
    iris = load_dataset("iris")
    with pytest.raises(DataError, match=r"test_size=0.01.*3 classes"):
        split_dataset(iris.X, iris.y, test_size=0.01, val_size=0.0, seed=0)


def test_standardisation_uses_training_statistics_only():
    rng = np.random.default_rng(0)
    X_train = rng.normal(loc=5.0, scale=3.0, size=(200, 3))
    X_train[:, 2] = 7.0  # a constant feature
    mean, scale = fit_standardizer(X_train)
    np.testing.assert_allclose(mean, X_train.mean(axis=0))
    np.testing.assert_allclose(scale[:2], X_train[:, :2].std(axis=0))
    assert scale[2] == 1.0  # not 0: no division by zero
    Z = standardize(X_train, mean, scale)
    np.testing.assert_allclose(Z[:, :2].mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(Z[:, :2].std(axis=0), 1.0)
    assert (Z[:, 2] == 0).all()
    X_test = np.full((4, 3), 100.0)  # transformed with the training statistics, not its own
    np.testing.assert_allclose(standardize(X_test, mean, scale)[0], (100.0 - mean) / scale)
    with pytest.raises(DataError, match="2 features, the model expects 3"):
        standardize(np.zeros((1, 2)), mean, scale)


# -- CSV ---------------------------------------------------------------------------------------


def write(tmp_path, text, name="data.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_csv_with_string_labels_in_the_last_column(tmp_path):
    path = write(tmp_path, "a,b,species\n1,2,dog\n3,4,cat\n5,6.5,dog\n\n")
    d = load_dataset(str(path))
    assert d.classes.tolist() == ["cat", "dog"] and d.y.tolist() == [1, 0, 1]
    assert d.X.tolist() == [[1, 2], [3, 4], [5, 6.5]] and d.feature_names == ("a", "b")


def test_csv_integer_labels_sort_numerically_and_target_may_be_in_the_middle(tmp_path):
    path = write(tmp_path, "x,label,z\n1,10,2\n3,9,4\n5,10,6\n7,2,8\n")
    d = load_dataset(str(path), target="label")
    assert d.classes.tolist() == [2, 9, 10]  # as numbers: "10" after "9"
    assert d.y.tolist() == [2, 1, 2, 0] and d.X.tolist() == [[1, 2], [3, 4], [5, 6], [7, 8]]


@pytest.mark.parametrize(
    ("text", "culprit"),
    [
        ("", "empty"),
        ("a,b,label\n", "no data rows"),
        ("a,b,label\n1,2,x\n3,4\n", "line 3 has 2 fields"),
        ("a,b,label\n1,2,x\n3,oops,y\n", "line 3, column 'b': 'oops' is not a number"),
        ("a,b,label\n1,nan,x\n3,4,y\n", "line 2, column 'b': nan is not finite"),
        ("a,b,label\n1,inf,x\n3,4,y\n", "not finite"),
        ("a,b,label\n1,2,x\n3,4,x\n", "only one class"),
        ("a,b,label\n1,2,x\n", "at least 2 samples"),
        ("a,a,label\n1,2,x\n3,4,y\n", "duplicate column name 'a'"),
        ("a,,label\n1,2,x\n3,4,y\n", "column 2 has no name"),
        ("label\nx\ny\n", "at least one feature column"),
        ("a,b,label\n1,2,\n3,4,y\n", "empty label"),
    ],
)
def test_broken_csv_files_name_the_file_and_the_culprit(tmp_path, text, culprit):
    path = write(tmp_path, text)
    with pytest.raises(DataError) as info:
        load_dataset(str(path))
    assert str(path) in str(info.value) and culprit in str(info.value)
    assert "\n" not in str(info.value)


def test_csv_missing_file_directory_wrong_target_and_bad_encoding(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_dataset(str(tmp_path / "absent.csv"))
    (tmp_path / "folder.csv").mkdir()
    with pytest.raises(DataError, match="is a directory"):
        load_dataset(str(tmp_path / "folder.csv"))
    path = write(tmp_path, "a,b\n1,x\n2,y\n")
    with pytest.raises(DataError, match=r"no column .label.*columns: a, b"):
        load_dataset(str(path), target="label")
    latin = tmp_path / "latin.csv"
    latin.write_bytes("a,b\n1,caf\xe9\n2,x\n".encode("latin-1"))
    with pytest.raises(DataError, match="not UTF-8"):
        load_dataset(str(latin))
    with pytest.raises(DataError, match="only a CSV"):
        load_dataset("iris", target="species")
