"""The cache that spares repeated runs the import of scikit-learn."""

import os
import subprocess
import sys

import numpy as np

from data import fit_standardizer, load_dataset, split_dataset
from data.cache import cache_dir

PREPARE = (
    "import sys\n"
    "from cli.config import parse_config\n"
    "from cli.experiment import prepare_data\n"
    "data = prepare_data(parse_config({'data': {'dataset': 'digits'}}))\n"
    "print(len(data.parts['train'][1]), 'sklearn' in sys.modules)\n"
)


def prepare_in_a_new_process(cache):
    env = {**os.environ, "MLP_CACHE_DIR": str(cache)}
    result = subprocess.run(
        [sys.executable, "-c", PREPARE], capture_output=True, text=True, env=env, check=True
    )
    return result.stdout.split()


def test_a_repeated_run_does_not_import_scikit_learn(tmp_path):
    assert prepare_in_a_new_process(tmp_path) == ["1293", "True"]  # computes and caches
    assert prepare_in_a_new_process(tmp_path) == ["1293", "False"]  # reads the cache only


def test_cached_and_fresh_results_are_identical(tmp_path, monkeypatch):
    def everything():
        d = load_dataset("wine")
        s = split_dataset(d.X, d.y, test_size=0.2, val_size=0.1, seed=3)
        return [d.X, d.y, d.classes, s.X_train, s.y_val, s.X_test, *fit_standardizer(s.X_train)]

    monkeypatch.setenv("MLP_CACHE_DIR", "off")
    assert cache_dir() is None
    fresh = everything()
    monkeypatch.setenv("MLP_CACHE_DIR", str(tmp_path))
    first, second = everything(), everything()  # the second comes from the cache
    assert len(list(tmp_path.iterdir())) == 4  # dataset, two splits, standardizer
    for a, b, c in zip(fresh, first, second):
        assert np.array_equal(a, b) and np.array_equal(a, c)


def test_a_damaged_cache_file_is_ignored_and_replaced(tmp_path, monkeypatch):
    monkeypatch.setenv("MLP_CACHE_DIR", str(tmp_path))
    expected = load_dataset("iris")
    [cached_file] = tmp_path.iterdir()
    cached_file.write_bytes(b"PK\x03\x04 damaged")
    again = load_dataset("iris")
    assert np.array_equal(again.X, expected.X) and again.classes.tolist() == [
        "setosa",
        "versicolor",
        "virginica",
    ]
    with np.load(cached_file) as npz:  # rewritten whole
        assert np.array_equal(npz["y"], expected.y)


def test_an_unwritable_cache_is_only_a_missed_optimisation(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("MLP_CACHE_DIR", str(blocker / "cache"))
    assert load_dataset("iris").n_samples == 150


def test_a_cache_file_from_another_version_missing_arrays_is_recomputed(tmp_path, monkeypatch):
    monkeypatch.setenv("MLP_CACHE_DIR", str(tmp_path))
    iris = load_dataset("iris")
    split = split_dataset(iris.X, iris.y, test_size=0.2, val_size=0.0, seed=0)
    [split_file] = [p for p in tmp_path.iterdir() if p.name.startswith("split-")]
    with open(split_file, "wb") as file:  # same key, other array names
        np.savez(file, keep=np.arange(3), out=np.arange(3))
    again = split_dataset(iris.X, iris.y, test_size=0.2, val_size=0.0, seed=0)
    assert np.array_equal(again.X_test, split.X_test) and len(again.y_train) == 120
