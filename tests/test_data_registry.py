"""The bundled datasets: the registry's stored sizes, the loaded data, and choosing by name."""

import subprocess
import sys

import numpy as np
import pytest

from data import DATASETS, DataError, load_dataset

# From scikit-learn's documentation of each loader (User Guide, "Toy datasets").
KNOWN_SIZES = {
    "digits": (1797, 64, 10),
    "iris": (150, 4, 3),
    "wine": (178, 13, 3),
    "breast_cancer": (569, 30, 2),
}
# A regression's output units are its target columns: diabetes has one.
KNOWN_REGRESSION_SIZES = {"diabetes": (442, 10, 1)}


def test_the_registry_holds_exactly_the_bundled_sets_with_their_documented_sizes():
    assert list(DATASETS) == ["digits", "iris", "wine", "breast_cancer", "diabetes"]
    sizes = KNOWN_SIZES | KNOWN_REGRESSION_SIZES
    for name, info in DATASETS.items():
        assert info.name == name
        assert (info.n_samples, info.n_features, info.n_classes) == sizes[name]
        assert info.task == ("regression" if name in KNOWN_REGRESSION_SIZES else "classification")
        assert info.description and "\n" not in info.description


@pytest.mark.parametrize("name", list(KNOWN_SIZES))
def test_the_stored_sizes_match_the_loaded_data(name):
    info, d = DATASETS[name], load_dataset(name)
    assert (d.n_samples, d.n_features, d.n_classes) == (
        info.n_samples,
        info.n_features,
        info.n_classes,
    )
    assert d.X.shape == (info.n_samples, info.n_features) and d.y.shape == (info.n_samples,)
    assert len(d.feature_names) == info.n_features and d.name == name


@pytest.mark.parametrize("name", list(KNOWN_SIZES))
def test_a_loaded_set_keeps_the_dataset_contract(name):
    d = load_dataset(name)
    assert d.X.dtype == np.float64 and d.X.flags.c_contiguous and np.isfinite(d.X).all()
    assert d.y.dtype == np.int64
    assert set(np.unique(d.y).tolist()) == set(range(d.n_classes))  # every index 0..K-1 used
    assert d.classes.dtype.kind in "ifU"  # never object
    assert d.classes.tolist() == sorted(d.classes.tolist())


def test_iris_has_50_flowers_of_each_species_in_sorted_order():
    iris = load_dataset("iris")
    assert np.bincount(iris.y).tolist() == [50, 50, 50]
    assert iris.classes.tolist() == ["setosa", "versicolor", "virginica"]


def test_digits_classes_are_the_integers_0_to_9():
    digits = load_dataset("digits")
    assert digits.classes.dtype == np.int64 and digits.classes.tolist() == list(range(10))


def test_breast_cancer_indices_follow_the_sorted_labels():
    # 357 benign and 212 malignant (scikit-learn's documentation); sorted, benign is class 0
    cancer = load_dataset("breast_cancer")
    assert cancer.classes.tolist() == ["benign", "malignant"]
    assert np.bincount(cancer.y).tolist() == [357, 212]


def test_an_unknown_name_lists_the_known_ones_and_mentions_csv_paths():
    for source in ("mnist", "iris.xlsx", "Iris", ""):
        with pytest.raises(DataError) as info:
            load_dataset(source)
        message = str(info.value)
        assert repr(source) in message and "digits, iris, wine, breast_cancer" in message
        assert ".csv" in message and "\n" not in message


def test_table_keys_are_refused_for_a_bundled_set():
    from data import TableSettings

    for key, value in (("target", "species"), ("drop", ("x",)), ("header", False)):
        with pytest.raises(DataError, match=rf"data.{key}: only a CSV dataset.*iris is bundled"):
            load_dataset("iris", TableSettings(**{key: value}))


@pytest.mark.slow
def test_listing_the_registry_does_not_import_scikit_learn():
    code = (
        "import sys, data\n"
        "print(sum(i.n_samples for i in data.DATASETS.values()), 'sklearn' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == [str(1797 + 150 + 178 + 569 + 442), "False"]
