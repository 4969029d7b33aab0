"""Epoch time at --threads 1, --threads 2 and auto, on a quiet machine and with one core busy.

    python benchmarks/threads.py            # 3 interleaved repeats (about 3 minutes on 2 cores)
    python benchmarks/threads.py --quick    # 1 repeat, for a smoke test

Each figure is a whole short training run (the model and trainer built afresh, as `mlp train`
does) divided by its epochs, so `auto` pays for its own measuring: its first stretches run at
each thread count, the slower one included. The three settings are interleaved, in an order
that turns each repeat (1, 2, auto; 2, auto, 1; auto, 1, 2), so that a neighbour's load falls
on all of them alike and no setting always follows another (OpenBLAS's second thread spins for
about 0.1 s after a 2-thread product, which slows whatever runs next on a busy machine); each
figure is the median over the repeats. "One core busy" starts a busy-loop process (bounded to
BUSY_LIMIT seconds in any case) before that condition and stops it after. The 1-minute load
average is read after every run and reported as its range over the condition. Results go to
benchmarks/results/threads.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cli.threads import AUTO, candidates, for_training  # noqa: E402
from mlp import MLP, Adam, Trainer  # noqa: E402

BUSY_LIMIT = 600  # seconds: the busy loop ends by itself even if this script is killed
BUSY_LOOP = f"import time\nend = time.time() + {BUSY_LIMIT}\nwhile time.time() < end: pass\n"


@dataclass(frozen=True)
class Workload:
    """A network and a batch size, trained on synthetic data of the given shape."""

    name: str
    sizes: tuple[int, ...]
    batch_size: int
    rows: int
    epochs: int  # per timed run: about a second or two of training on this machine
    dtype: str = "float64"


WORKLOADS = [
    Workload("digits 64-128-10 b32", (64, 128, 10), 32, 1437, 100),
    Workload("digits 64-256-128-10 b32", (64, 256, 128, 10), 32, 1437, 25),
    Workload("mnist-sized 784-256-10 b128", (784, 256, 10), 128, 4096, 8),
]


def synthetic(w: Workload) -> tuple[np.ndarray, np.ndarray]:
    """Standard normal inputs with labels from a fixed random linear rule (learnable, so the
    run behaves like training, not like noise)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((w.rows, w.sizes[0]))
    y = (X @ rng.standard_normal((w.sizes[0], w.sizes[-1]))).argmax(axis=1)
    return X, y


def ms_per_epoch(w: Workload, data, setting) -> tuple[float, int]:
    """Build and train one run with `setting` threads; its wall time per epoch and the
    thread count it used last."""
    X, y = data
    started = time.perf_counter()
    rng = np.random.default_rng(0)
    model = MLP(list(w.sizes), rng, dtype=w.dtype)
    trainer = Trainer(model, Adam(0.002), X, y, batch_size=w.batch_size, rng=rng)
    # as `mlp train` builds it (cli/app.py, Session.multiply_adds): a small run's auto is 1
    threads = for_training(setting, 3.0 * model.n_params * len(y) * w.epochs)
    threads.keep_numbers(trainer)
    for _ in threads.run(trainer.run(w.epochs), trainer):
        pass
    return 1000 * (time.perf_counter() - started) / w.epochs, threads.current


def measure(repeats: int, quick: bool) -> list[dict]:
    """Every workload and setting, in each condition; one row per workload and condition."""
    settings = [1, max(candidates()), AUTO]
    rows = []
    for condition in ("quiet", "one core busy"):
        busy = None
        if condition == "one core busy":
            busy = subprocess.Popen([sys.executable, "-c", BUSY_LOOP])
            time.sleep(1.0)  # let the scheduler see it
        try:
            for w in WORKLOADS:
                if quick:
                    w = Workload(w.name, w.sizes, w.batch_size, w.rows, max(w.epochs // 4, 3))
                data = synthetic(w)
                ms_per_epoch(w, data, 1)  # warm-up: first allocations, code paths
                times: dict[str, list[float]] = {str(s): [] for s in settings}
                loads, auto_used = [], []
                for repeat in range(repeats):
                    turn = repeat % len(settings)
                    for setting in settings[turn:] + settings[:turn]:
                        ms, used = ms_per_epoch(w, data, setting)
                        times[str(setting)].append(ms)
                        loads.append(os.getloadavg()[0])
                        if setting == AUTO:
                            auto_used.append(used)
                medians = {s: float(np.median(v)) for s, v in times.items()}
                fixed = min(medians[str(s)] for s in settings if s != AUTO)
                rows.append(
                    {
                        "workload": w.name,
                        "condition": condition,
                        "ms": medians,
                        "all_ms": times,
                        "auto_over_best_fixed": medians[AUTO] / fixed,
                        "auto_used": auto_used,
                        "load": [min(loads), max(loads)],
                    }
                )
                print(format_row(rows[-1], settings), flush=True)
        finally:
            if busy is not None:
                busy.terminate()
                busy.wait()
    return rows


def format_row(row: dict, settings) -> str:
    ms = " | ".join(f"{row['ms'][str(s)]:.2f}" for s in settings)
    low, high = row["load"]
    return (
        f"| {row['workload']} | {row['condition']} | {ms} | "
        f"{row['auto_over_best_fixed']:.2f}x | {', '.join(map(str, row['auto_used']))} | "
        f"{low:.2f}-{high:.2f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="1 repeat, a quarter of the epochs")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    repeats = 1 if args.quick else args.repeats
    settings = [1, max(candidates()), AUTO]
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    head = (
        f"Measured {when} on {os.cpu_count()} cores; load average before: "
        f"{os.getloadavg()[0]:.2f}. Median of {repeats} interleaved runs, ms per epoch "
        "(whole runs, auto's measuring included)."
    )
    print(head)
    columns = " | ".join(f"--threads {s}" for s in settings)
    table = [
        f"| workload | machine | {columns} | auto / faster fixed | auto chose | load average |",
        "|---|---|" + "---|" * len(settings) + "---|---|---|",
    ]
    print("\n".join(table), flush=True)
    rows = measure(repeats, args.quick)
    table += [format_row(row, settings) for row in rows]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "threads.md").write_text(head + "\n\n" + "\n".join(table) + "\n")
    (args.out / "threads.json").write_text(
        json.dumps({"measured": when, "repeats": repeats, "rows": rows}, indent=1) + "\n"
    )


if __name__ == "__main__":
    main()
