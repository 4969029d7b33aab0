"""eval's scores, computed in NumPy, equal scikit-learn's; eval of a bundled-set run imports
neither scikit-learn nor pandas once the dataset is cached."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from sklearn.metrics import confusion_matrix as sk_confusion_matrix
from sklearn.metrics import precision_recall_fscore_support

from mlp.evaluation import class_scores, confusion_matrix


@pytest.mark.parametrize("seed", range(6))
def test_confusion_matrix_and_class_scores_equal_scikit_learns(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 7))
    n = int(rng.integers(1, 40))
    # some classes absent from y, some never predicted: the zero-division cases
    y = rng.integers(0, max(1, k - 1), size=n)
    predictions = rng.integers(1, k, size=n)
    labels = list(range(k))
    matrix = confusion_matrix(y, predictions, k)
    np.testing.assert_array_equal(matrix, sk_confusion_matrix(y, predictions, labels=labels))
    scores = class_scores(matrix)
    expected = precision_recall_fscore_support(y, predictions, labels=labels, zero_division=0)
    for got, want in zip((scores.precision, scores.recall, scores.f1, scores.support), expected):
        np.testing.assert_allclose(got, want, rtol=1e-15, atol=0)


@pytest.mark.slow
def test_eval_of_a_cached_bundled_run_imports_neither_scikit_learn_nor_pandas(tmp_path):
    env = {**os.environ, "MLP_CACHE_DIR": str(tmp_path / "cache")}
    config = tmp_path / "iris.yaml"
    config.write_text("data: {dataset: iris}\nmodel: {hidden: [4]}\ntrain: {epochs: 2}\n")
    run = tmp_path / "run"
    train = [sys.executable, "-m", "cli", "train", "-c", str(config), "--out", str(run), "-q"]
    assert subprocess.run(train, env=env, capture_output=True).returncode == 0  # caches iris
    probe = (
        "import runpy, sys\n"
        f"sys.argv = ['mlp', 'eval', {str(run)!r}, '--json']\n"
        "try:\n    runpy.run_module('cli', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'sklearn', 'pandas', 'scipy'}))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True)
    report, imported = done.stdout.strip().splitlines()
    assert json.loads(report)["n"] == 30
    assert imported == "[]"
