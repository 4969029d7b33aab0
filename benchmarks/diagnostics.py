"""What the training diagnostics cost: an epoch with them against the same epoch without.

    python benchmarks/diagnostics.py             # floor.py's two workloads, 15 rounds (~2 min)
    python benchmarks/diagnostics.py --rounds 5

Two trainers with the same network, data, optimizer and seed, one measuring each layer after
every epoch (`Trainer(diagnostics=True)`: the update ratios around 3 of its steps, then one
forward and backward pass over the probe batch of at most 256 rows) and one not, take epochs in turn
in this process at one BLAS thread, so that a neighbour's load falls on both alike, timed in
this thread's CPU seconds (`time.thread_time`: a neighbour that takes the core away for a while
does not count, as it would in wall-clock time on these shared machines). The figure is the
median over the rounds of (epoch with) / (epoch without) - 1, with its range, and beside it the
ratio of the two medians; the issue's bound is 5%. Digits' epochs take milliseconds, so it runs
30 times the rounds. Beside it, the same workloads' epoch against their matrix-product floor
(floor.py), measured in the same run. Results go to benchmarks/results/diagnostics.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from floor import FLOOR_WORKLOADS, FloorWorkload, measure_floor  # noqa: E402
from run import load  # noqa: E402

from mlp import MLP, SGD, Trainer  # noqa: E402

BOUND = 0.05


def trainer(w: FloorWorkload, X: np.ndarray, y: np.ndarray, diagnostics: bool) -> Trainer:
    rng = np.random.default_rng(0)
    model = MLP([X.shape[1], w.hidden, int(y.max()) + 1], rng, dtype=w.dtype)
    return Trainer(
        model,
        SGD(0.05, momentum=0.9),
        X,
        y,
        batch_size=w.batch_size,
        rng=rng,
        diagnostics=diagnostics,
    )


def measure_overhead(w: FloorWorkload, X: np.ndarray, y: np.ndarray, rounds: int) -> dict:
    """Per-round ratio of an epoch with diagnostics to one without, at one BLAS thread."""
    from threadpoolctl import threadpool_limits

    X = np.ascontiguousarray(X, dtype=w.dtype)
    on = trainer(w, X, y, True).run(rounds + 1)
    off = trainer(w, X, y, False).run(rounds + 1)
    with_, without = [], []
    with threadpool_limits(1, user_api="blas"):
        next(on), next(off)  # warm-up
        for i in range(rounds):
            pair = [(on, with_), (off, without)]
            for epochs, times in pair if i % 2 == 0 else pair[::-1]:
                started = time.thread_time()
                next(epochs)
                times.append(time.thread_time() - started)
    ratios = [a / b - 1 for a, b in zip(with_, without)]
    return {
        "of_medians": float(np.median(with_) / np.median(without) - 1),
        "workload": w.name,
        "rows": len(X),
        "with_ms": 1000 * float(np.median(with_)),
        "without_ms": 1000 * float(np.median(without)),
        "overhead": float(np.median(ratios)),
        "overhead_range": [min(ratios), max(ratios)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    rows = []
    for w in FLOOR_WORKLOADS:
        X, y = load(w.dataset)[:2]
        load_before = os.getloadavg()[0]
        rounds = args.rounds * (30 if w.dataset == "digits" else 1)
        row = measure_overhead(w, X, y, rounds)
        row["floor"] = measure_floor(w, X, y, args.rounds)
        row["load"] = [load_before, os.getloadavg()[0]]
        rows.append(row)
    lines = [
        "| workload | epoch ms without | with diagnostics | overhead (range) | "
        "ratio of the medians | bound | epoch / matmul floor | load average |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        low, high = r["overhead_range"]
        verdict = "met" if r["overhead"] <= BOUND else "missed"
        lines.append(
            f"| {r['workload']} | {r['without_ms']:.2f} | {r['with_ms']:.2f} | "
            f"{r['overhead']:+.1%} ({low:+.1%} to {high:+.1%}) | {r['of_medians']:+.1%} | "
            f"<= {BOUND:.0%}: {verdict} | "
            f"{r['floor']['ratio']:.2f}x | {r['load'][0]:.2f}-{r['load'][1]:.2f} |"
        )
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    text = f"`python benchmarks/diagnostics.py --rounds {args.rounds}`, {stamp}\n\n"
    text += "\n".join(lines) + "\n"
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "diagnostics.md").write_text(text)
    (args.out / "diagnostics.json").write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
