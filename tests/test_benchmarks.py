"""The benchmark scripts measure what they say they measure (they are run by hand, not here)."""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # benchmarks/ is not installed

from benchmarks import floor, step_profile


def toy(rows=100, features=8, classes=3):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((rows, features))
    return X, (X @ rng.standard_normal((features, classes))).argmax(axis=1)


def test_the_step_profile_times_the_trainers_own_step_bit_for_bit():
    # If Trainer's step changes and the inline copy does not, the profile would time a step
    # that no longer exists: it must end with exactly the parameters Trainer ends with.
    X, y = toy()
    model, times, steps = step_profile.profile(X, y, 6, 16, "float64", epochs=2)
    reference, _, trainer = step_profile.setup(X, y, 6, 16, "float64")
    for _ in trainer.run(2):
        pass
    assert steps == 2 * 7  # 100 rows in batches of 16: six full and one of 4, twice
    assert np.array_equal(model.params, reference.params)
    assert set(step_profile.MATMULS) <= set(times) and all(t > 0 for t in times.values())


def test_the_floor_epoch_makes_the_five_products_of_every_batch(monkeypatch):
    X, _ = toy(rows=10)
    weights = [np.ones((8, 6)), np.ones((6, 3))]
    shapes = []
    real_matmul = np.ndarray.__matmul__

    class Recording(np.ndarray):
        def __matmul__(self, other):
            shapes.append((self.shape, np.shape(other)))
            return real_matmul(np.asarray(self), np.asarray(other)).view(Recording)

    floor.matmul_epoch(X.view(Recording), [W.view(Recording) for W in weights], batch_size=4)
    # batches of 4, 4 and 2 rows: X W1, a1 W2, a1^T delta2, delta2 W2^T, X^T delta1 each
    expected = []
    for b in (4, 4, 2):
        expected += [((b, 8), (8, 6)), ((b, 6), (6, 3)), ((6, b), (b, 3))]
        expected += [((b, 3), (3, 6)), ((8, b), (b, 6))]
    assert shapes == expected
