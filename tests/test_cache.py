"""The cache of bundled datasets that spares repeated runs the import of scikit-learn."""

import os
import subprocess
import sys

import numpy as np
import pytest

from data import load_dataset
from data.cache import cache_dir

PREPARE = (
    "import sys\n"
    "from cli.config import parse_config\n"
    "from cli.experiment import prepare_data\n"
    "import numpy as np\n"
    "data = prepare_data(parse_config({'data': {'dataset': 'digits'}}), np.random.default_rng(0))\n"
    "print(len(data.parts['train'][1]), 'sklearn' in sys.modules)\n"
)


def prepare_in_a_new_process(cache):
    env = {**os.environ, "MLP_CACHE_DIR": str(cache)}
    result = subprocess.run(
        [sys.executable, "-c", PREPARE], capture_output=True, text=True, env=env, check=True
    )
    return result.stdout.split()


@pytest.mark.slow
def test_a_repeated_run_does_not_import_scikit_learn(tmp_path):
    # 1797 digits: ceil(0.2 * 1797) = 360 test, ceil(0.1 * 1437) = 144 validation, 1293 train
    assert prepare_in_a_new_process(tmp_path) == ["1293", "True"]  # loads and caches
    assert prepare_in_a_new_process(tmp_path) == ["1293", "False"]  # reads the cache only


def same_dataset(a, b):
    return (
        np.array_equal(a.X, b.X)
        and np.array_equal(a.y, b.y)
        and np.array_equal(a.classes, b.classes)
        and a.feature_names == b.feature_names
        and a.record == b.record
    )


def test_cached_and_fresh_datasets_are_identical(tmp_path, monkeypatch):
    monkeypatch.setenv("MLP_CACHE_DIR", "off")
    assert cache_dir() is None
    fresh = load_dataset("wine")
    monkeypatch.setenv("MLP_CACHE_DIR", str(tmp_path))
    first, second = load_dataset("wine"), load_dataset("wine")  # the second from the cache
    assert len(list(tmp_path.iterdir())) == 1
    assert same_dataset(fresh, first) and same_dataset(fresh, second)


@pytest.fixture
def iris_cache(tmp_path, monkeypatch):
    """(the iris dataset, its cache file's path and intact bytes) in a private cache."""
    monkeypatch.setenv("MLP_CACHE_DIR", str(tmp_path))
    expected = load_dataset("iris")
    [cached_file] = tmp_path.iterdir()
    return expected, cached_file, cached_file.read_bytes()


def assert_reloaded_and_rewritten(expected, cached_file, intact):
    assert same_dataset(load_dataset("iris"), expected)  # no traceback, the right data
    assert cached_file.read_bytes() == intact  # rewritten whole


def test_a_truncated_cache_file_is_a_miss_that_gets_rewritten(iris_cache):
    expected, cached_file, intact = iris_cache
    for length in [0, 1, 4, 30, 100, *range(200, len(intact), len(intact) // 25), len(intact) - 1]:
        cached_file.write_bytes(intact[:length])
        assert_reloaded_and_rewritten(expected, cached_file, intact)


def test_a_cache_file_with_a_damaged_byte_is_never_trusted_for_wrong_data(iris_cache):
    expected, cached_file, intact = iris_cache
    rewritten = 0
    # every other byte of the first 160 (zip and array headers), then a sample of the rest
    places = [*range(0, 160, 2), *range(160, len(intact), 97)]
    for at in places:
        damaged = bytearray(intact)
        damaged[at] ^= 0x55
        cached_file.write_bytes(bytes(damaged))
        assert same_dataset(load_dataset("iris"), expected)  # no traceback, the right data
        now = cached_file.read_bytes()
        # A byte zip ignores (a version field, a timestamp) leaves the arrays intact: a hit.
        assert now in (intact, damaged)
        rewritten += now == intact
    assert rewritten > 0.8 * len(places)


def test_a_cache_file_of_the_right_names_but_wrong_arrays_is_a_miss(iris_cache):
    expected, cached_file, intact = iris_cache
    with np.load(cached_file) as npz:
        arrays = dict(npz)
    arrays["y"] = arrays["y"][:-1]  # intact as a file, but not the dataset it claims to be
    with open(cached_file, "wb") as file:
        np.savez(file, **arrays)
    assert_reloaded_and_rewritten(expected, cached_file, intact)


def test_a_cache_file_from_another_version_missing_arrays_is_recomputed(iris_cache):
    expected, cached_file, intact = iris_cache
    with open(cached_file, "wb") as file:  # same key, other array names
        np.savez(file, X=expected.X, y=expected.y)
    assert_reloaded_and_rewritten(expected, cached_file, intact)


def test_an_unwritable_cache_is_only_a_missed_optimisation(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("MLP_CACHE_DIR", str(blocker / "cache"))
    assert load_dataset("iris").n_samples == 150
