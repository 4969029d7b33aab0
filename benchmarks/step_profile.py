"""Where a training step's time goes: the step written out inline, each part timed in the loop.

    python benchmarks/step_profile.py            # MNIST-sized float32 and digits float64
    python benchmarks/step_profile.py --epochs 3

The step below is `Trainer`'s minibatch step (SGD with momentum 0.9, one hidden sigmoid layer)
with a clock read between its parts, at one BLAS thread. Parts are timed inside the real loop,
not one by one in isolation: a large matrix product evicts the caches, and the small calls after
it then cost two or three times what `timeit` shows for them. To show it is the same step, the
parameters it ends with are checked to be bitwise those of a `Trainer` run with the same seed.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mlp import MLP, SGD, Trainer  # noqa: E402
from mlp.functions import sigmoid, sigmoid_derivative, softmax_cross_entropy  # noqa: E402

WORKLOADS = {  # dataset, hidden units, batch size, dtype
    "mnist-like 784-256-10 b128": ("mnist-like", 256, 128, "float32"),
    "digits 64-128-10 b32": ("digits", 128, 32, "float64"),
}
MATMULS = ("X W1", "a1 W2", "a1^T delta2", "delta2 W2^T", "X^T delta1")


def setup(X, y, hidden, batch_size, dtype):
    rng = np.random.default_rng(0)
    model = MLP([X.shape[1], hidden, int(y.max()) + 1], rng, dtype=dtype)
    optimizer = SGD(0.05, momentum=0.9)
    return model, optimizer, Trainer(model, optimizer, X, y, batch_size=batch_size, rng=rng)


def profile(X, y, hidden, batch_size, dtype, epochs):
    """Seconds per part over `epochs` epochs of the inline step, and the steps taken."""
    model, optimizer, trainer = setup(X, y, hidden, batch_size, dtype)
    (W1, W2), (b1, b2) = model.weights, model.biases
    (gW1, gW2), (gb1, gb2) = model.grad_weights, model.grad_biases
    X, y = trainer.X, trainer.y
    times: dict[str, float] = defaultdict(float)
    steps = 0
    clock = time.perf_counter
    for _ in range(epochs):
        order = trainer.rng.permutation(len(X))  # as Trainer draws it
        y_ordered = y[order]
        for batch in trainer.batches:
            t0 = clock()
            rows = order[batch]
            xb = trainer.gathered[len(rows)]
            np.take(X, rows, axis=0, out=xb, mode="clip")
            yb = y_ordered[batch]
            t1 = clock()
            z1 = xb @ W1
            t2 = clock()
            z1 += b1
            t3 = clock()
            a1 = sigmoid(z1)
            t4 = clock()
            z2 = a1 @ W2
            t5 = clock()
            z2 += b2
            t6 = clock()
            loss, delta2 = softmax_cross_entropy(z2, yb)
            t7 = clock()
            np.matmul(a1.T, delta2, out=gW2)
            t8 = clock()
            np.matmul(np.ones(len(yb), dtype), delta2, out=gb2)
            t9 = clock()
            delta1 = delta2 @ W2.T
            t10 = clock()
            delta1 *= sigmoid_derivative(a1)
            t11 = clock()
            np.matmul(xb.T, delta1, out=gW1)
            t12 = clock()
            np.matmul(np.ones(len(yb), dtype), delta1, out=gb1)
            t13 = clock()
            finite = math.isfinite(loss) and math.isfinite(model.grad @ model.grad)
            t14 = clock()
            optimizer.step(model.params, model.grad)
            t15 = clock()
            finite = finite and math.isfinite(model.params @ model.params)
            t16 = clock()
            hits = int(np.count_nonzero(z2.argmax(axis=1) == yb))
            t17 = clock()
            assert finite and hits >= 0
            for part, seconds in (
                ("gather the shuffled batch", t1 - t0),
                ("X W1", t2 - t1),
                ("bias additions", t3 - t2 + t6 - t5),
                ("sigmoid", t4 - t3),
                ("a1 W2", t5 - t4),
                ("softmax, loss and p - y", t7 - t6),
                ("a1^T delta2", t8 - t7),
                ("bias gradients (1^T delta)", t9 - t8 + t13 - t12),
                ("delta2 W2^T", t10 - t9),
                ("sigmoid derivative, times delta", t11 - t10),
                ("X^T delta1", t12 - t11),
                ("finiteness tests (g.g before the update, p.p after)", t14 - t13 + t16 - t15),
                ("optimizer update", t15 - t14),
                ("accuracy count", t17 - t16),
            ):
                times[part] += seconds
            steps += 1
    return model, times, steps


def main() -> None:
    from threadpoolctl import threadpool_limits

    from benchmarks.run import load

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    for name, (dataset, hidden, batch_size, dtype) in WORKLOADS.items():
        X, y = load(dataset)[:2]
        X = X.astype(dtype)
        with threadpool_limits(1, user_api="blas"):
            model, times, steps = profile(X, y, hidden, batch_size, dtype, args.epochs)
            reference, _, trainer = setup(X, y, hidden, batch_size, dtype)
            for _ in trainer.run(args.epochs):
                pass
        assert np.array_equal(model.params, reference.params), "the inline step drifted"
        total = sum(times.values())
        floor = sum(times[part] for part in MATMULS)
        print(f"\n{name} {dtype}, one BLAS thread, {steps} steps: {1e6 * total / steps:.0f} us")
        print("| part | us per step | share |\n|---|---|---|")
        for part, seconds in times.items():
            mark = " (floor)" if part in MATMULS else ""
            print(f"| {part}{mark} | {1e6 * seconds / steps:.1f} | {seconds / total:.0%} |")
        print(f"| the five matrix products | {1e6 * floor / steps:.0f} | {floor / total:.0%} |")
        print(f"step / its matrix products: {total / floor:.2f}x")


if __name__ == "__main__":
    main()
