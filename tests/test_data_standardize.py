"""z-score standardisation with statistics from the training part only."""

import numpy as np
import pytest

from data import DataError, fit_standardizer, load_dataset, split_indices, standardize


@pytest.fixture
def X_train():
    rng = np.random.default_rng(0)
    X = rng.normal(loc=[5.0, -2.0, 0.0], scale=[3.0, 0.5, 1.0], size=(200, 3))
    X[:, 2] = 7.0  # a constant feature
    return X


def test_the_statistics_are_the_training_mean_and_population_std(X_train):
    mean, scale = fit_standardizer(X_train)
    assert mean.dtype == scale.dtype == np.float64 and mean.shape == scale.shape == (3,)
    np.testing.assert_allclose(mean, X_train.mean(axis=0))
    np.testing.assert_allclose(scale[:2], X_train[:, :2].std(axis=0))  # ddof=0


def test_a_constant_feature_gets_scale_1_and_stays_finite(X_train):
    mean, scale = fit_standardizer(X_train)
    assert scale[2] == 1.0  # not 0: no division by zero
    Z = standardize(X_train, mean, scale)
    assert np.isfinite(Z).all() and (Z[:, 2] == 0).all()


def test_the_training_part_standardises_to_mean_0_and_std_1(X_train):
    Z = standardize(X_train, *fit_standardizer(X_train))
    np.testing.assert_allclose(Z[:, :2].mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(Z[:, :2].std(axis=0), 1.0)


def test_standardize_is_x_minus_mean_over_scale():
    X = np.array([[1.0, 10.0], [3.0, 30.0]])
    Z = standardize(X, np.array([2.0, 20.0]), np.array([1.0, 10.0]))  # by hand
    assert Z.tolist() == [[-1.0, -1.0], [1.0, 1.0]]


def test_the_test_part_plays_no_part_in_the_statistics():
    iris = load_dataset("iris")
    s = split_indices(iris.y, test_size=0.2, val_size=0.0, rng=np.random.default_rng(0))
    X_train, X_test = iris.X[s.train], iris.X[s.test]
    # shifting the test part far away changes nothing fitted on the training part
    mean, scale = fit_standardizer(X_train)
    np.testing.assert_allclose(mean, X_train.mean(axis=0))
    np.testing.assert_allclose(scale, X_train.std(axis=0))
    assert not np.allclose(mean, iris.X.mean(axis=0))  # not the statistics of everything
    Z_test = standardize(X_test + 1000.0, mean, scale)
    np.testing.assert_allclose(Z_test, (X_test + 1000.0 - mean) / scale)
    assert (Z_test > 100).all()  # far off, as it should be: its own statistics were not used


def awkward_columns():
    """Columns that test the near-constant rule, each 200 rows."""
    rng = np.random.default_rng(4)
    noise = rng.normal(size=200)
    return np.column_stack(
        [
            rng.normal(5.0, 3.0, size=200),  # ordinary
            np.full(200, 0.1),  # constant, but 0.1 is inexact: over 7 rows NumPy's std is 1.4e-17
            np.full(200, -7.0),  # exactly constant
            1e8 + 1e-9 * noise,  # constant to within rounding at this magnitude
            1e8 + 1e-3 * noise,  # large, but with real spread
            1e-12 * noise,  # tiny, but a real spread around 0
            np.zeros(200),
        ]
    )


@pytest.mark.parametrize("rows", [2, 7, 200])
def test_the_statistics_match_scikit_learns_standard_scaler(rows):
    from sklearn.preprocessing import StandardScaler

    X = awkward_columns()[:rows]
    mean, scale = fit_standardizer(X)
    scaler = StandardScaler().fit(X)
    np.testing.assert_array_equal(scale == 1.0, scaler.scale_ == 1.0)  # the same columns
    np.testing.assert_allclose(mean, scaler.mean_, rtol=1e-15, atol=0)
    np.testing.assert_allclose(scale, scaler.scale_, rtol=1e-9, atol=0)
    assert scale[1] == scale[2] == scale[3] == scale[6] == 1.0
    assert scale[4] != 1.0 and scale[5] != 1.0


def test_a_feature_count_mismatch_names_both_counts():
    mean, scale = np.zeros(64), np.ones(64)
    with pytest.raises(DataError, match="data has 13 features, the model expects 64"):
        standardize(np.zeros((5, 13)), mean, scale)


def test_a_one_dimensional_array_is_refused():
    with pytest.raises(DataError, match=r"shape \(3,\)"):
        standardize(np.zeros(3), np.zeros(3), np.ones(3))


def test_a_tables_numeric_columns_take_the_same_standardizer(tmp_path):
    """One rule for bundled sets and tables: a CSV's columns, the near-constant ones included,
    get StandardScaler's mean and scale (no np.ptp shortcut of their own)."""
    from sklearn.preprocessing import StandardScaler

    from data.encoding import Preprocessor
    from data.table import read_table

    # and a column one ulp apart at 1e8: a spread of rounding, which np.ptp would call real
    ulp = np.where(np.arange(7) % 2 == 0, 1e8, np.nextafter(1e8, np.inf))
    X = np.column_stack([awkward_columns()[:7], ulp])
    names = [f"c{i}" for i in range(X.shape[1])]
    path = tmp_path / "awkward.csv"
    path.write_text(
        ",".join(names) + "\n" + "\n".join(",".join(repr(float(v)) for v in row) for row in X)
    )
    prep = Preprocessor.fit(read_table(path), names)
    scaler = StandardScaler().fit(X)
    np.testing.assert_array_equal(prep.scale == 1.0, scaler.scale_ == 1.0)
    np.testing.assert_allclose(prep.mean, scaler.mean_, rtol=1e-15, atol=0)
    np.testing.assert_allclose(prep.scale, scaler.scale_, rtol=1e-9, atol=0)
    assert prep.scale[-1] == 1.0 and np.ptp(X[:, -1]) > 0
