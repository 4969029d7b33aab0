"""How close training comes to its matrix products: an epoch against the five matmuls of its steps.

    python benchmarks/floor.py            # both workloads, 15 interleaved rounds (~1 minute)
    python benchmarks/floor.py --rounds 5

A training step of a one-hidden-layer network makes five matrix products: z1 = X W1 and
z2 = a1 W2 forward; dE/dW2 = a1^T delta2, delta2 W2^T and dE/dW1 = X^T delta1 backward. Their
time over an epoch's batches (same shapes, same batch sizes, the last smaller batch included)
is the floor no implementation of these steps can beat on this BLAS; everything else a step does
(the gather of a shuffled batch, the bias additions, the sigmoid, the softmax and loss, the
bias gradients, the finiteness test, the optimizer's update, the accuracy count) is overhead.

Both are timed in this process at one BLAS thread (the issue's setting: the thread count is
the other half of speed, see threads.py), alternating an epoch of training with an epoch of the
floor so that a neighbour's load falls on both alike; the figure is the median of the
per-round ratios, with their range. Results go to benchmarks/results/floor.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mlp import MLP, SGD, Trainer  # noqa: E402


@dataclass(frozen=True)
class FloorWorkload:
    """A network, batch size and dtype trained with SGD (momentum 0.9), and the ratio wanted."""

    name: str
    dataset: str  # "digits" or "mnist-like" (benchmarks/run.py's loader)
    hidden: int
    batch_size: int
    dtype: str
    target: float  # issue 14: the epoch at most this many times its matrix products


FLOOR_WORKLOADS = [
    FloorWorkload("mnist-like 784-256-10 b128", "mnist-like", 256, 128, "float32", 1.2),
    FloorWorkload("digits 64-128-10 b32", "digits", 128, 32, "float64", 2.5),
]


def matmul_epoch(X: np.ndarray, weights: list[np.ndarray], batch_size: int) -> float:
    """Seconds for the five matrix products of every step of one epoch, in file order."""
    W1, W2 = weights
    started = time.perf_counter()
    for start in range(0, len(X), batch_size):
        x = X[start : start + batch_size]
        a1 = x @ W1  # z1 = X W1 (the sigmoid is overhead, not floor)
        delta2 = a1 @ W2  # z2 = a1 W2 (stands in for delta2: same shape)
        _ = a1.T @ delta2  # dE/dW2
        delta1 = delta2 @ W2.T  # delta2 W2^T (stands in for delta1)
        _ = x.T @ delta1  # dE/dW1
    return time.perf_counter() - started


def measure_floor(w: FloorWorkload, X: np.ndarray, y: np.ndarray, rounds: int) -> dict:
    """Per-round ratio of a training epoch to the floor's epoch, at one BLAS thread."""
    from threadpoolctl import threadpool_limits

    X = np.ascontiguousarray(X, dtype=w.dtype)
    sizes = [X.shape[1], w.hidden, int(y.max()) + 1]
    rng = np.random.default_rng(0)
    model = MLP(sizes, rng, dtype=w.dtype)
    trainer = Trainer(model, SGD(0.05, momentum=0.9), X, y, batch_size=w.batch_size, rng=rng)
    weights = [W.copy() for W in model.weights]
    epochs = trainer.run(rounds + 1)
    ours, floor = [], []
    with threadpool_limits(1, user_api="blas"):
        next(epochs)  # warm-up: first allocations and code paths
        matmul_epoch(X, weights, w.batch_size)
        for _ in range(rounds):
            started = time.perf_counter()
            next(epochs)
            ours.append(time.perf_counter() - started)
            floor.append(matmul_epoch(X, weights, w.batch_size))
    ratios = [a / b for a, b in zip(ours, floor)]
    return {
        "workload": w.name,
        "dtype": w.dtype,
        "rows": len(X),
        "ours_ms": 1000 * float(np.median(ours)),
        "floor_ms": 1000 * float(np.median(floor)),
        "ratio": float(np.median(ratios)),
        "ratio_range": [min(ratios), max(ratios)],
        "target": w.target,
    }


def floor_rows(rounds: int, load, loaded: dict | None = None) -> list[dict]:
    """Every floor workload, its data from `load(dataset)` (benchmarks/run.py's loader) unless
    already in `loaded`."""
    loaded = {} if loaded is None else loaded
    rows = []
    for w in FLOOR_WORKLOADS:
        if w.dataset not in loaded:
            loaded[w.dataset] = load(w.dataset)
        X, y = loaded[w.dataset][:2]
        load_before = os.getloadavg()[0]
        row = measure_floor(w, X, y, rounds)
        row["load"] = [load_before, os.getloadavg()[0]]
        rows.append(row)
    return rows


def format_floor_table(rows: list[dict]) -> list[str]:
    """The markdown table of `floor_rows`."""
    lines = [
        "| workload | dtype | epoch ms | matmul floor ms | epoch / floor (range) | target | "
        "load average |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        low, high = r["ratio_range"]
        verdict = "met" if r["ratio"] <= r["target"] else "missed"
        lines.append(
            f"| {r['workload']} | {r['dtype']} | {r['ours_ms']:.2f} | {r['floor_ms']:.2f} | "
            f"{r['ratio']:.2f}x ({low:.2f}-{high:.2f}) | <= {r['target']}x: {verdict} | "
            f"{r['load'][0]:.2f}-{r['load'][1]:.2f} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    from benchmarks.run import load

    rows = floor_rows(args.rounds, load)
    head = (
        f"Measured {when} on {os.cpu_count()} cores, one BLAS thread; median of {args.rounds} "
        "alternating rounds (training epoch, floor epoch)."
    )
    table = format_floor_table(rows)
    print(head + "\n\n" + "\n".join(table))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "floor.md").write_text(head + "\n\n" + "\n".join(table) + "\n")
    (args.out / "floor.json").write_text(
        json.dumps({"measured": when, "rounds": args.rounds, "rows": rows}, indent=1) + "\n"
    )


if __name__ == "__main__":
    main()
