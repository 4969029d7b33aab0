"""Epoch time at --threads 1, --threads 2 and auto, on a quiet machine and with one core busy.

    python benchmarks/threads.py            # 3 interleaved repeats (about 8 minutes on 2 cores)
    python benchmarks/threads.py --quick    # 1 repeat, for a smoke test

Each figure is a whole short training run (the model and trainer built afresh, as `mlp train`
does) divided by its epochs, so `auto` pays for its own measuring: its first stretches run at
each thread count, the slower one included. The three settings are interleaved, in an order
that turns each repeat (1, 2, auto; 2, auto, 1; auto, 1, 2), so that a neighbour's load falls
on all of them alike and no setting always follows another (OpenBLAS's second thread spins for
about 0.1 s after a 2-thread product, which slows whatever runs next on a busy machine); each
time is the median over the repeats. `auto / faster fixed` takes the fixed count with the lower
median and is the median, over the repeats, of each repeat's ratio of auto to that count. Each
repeat also runs `--threads 1` a second time: the same ratio between the two identical runs,
the last column, is the noise the machine puts on any such figure. "One core busy" starts a
busy-loop process (it ends with this script, and after BUSY_LIMIT seconds in any case) before
that condition and stops it after. The 1-minute load
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
# The busy loop also ends when this script does (its parent changes), killed or not.
BUSY_LOOP = (
    f"import os, time\nparent, end = os.getppid(), time.time() + {BUSY_LIMIT}\n"
    "while time.time() < end and os.getppid() == parent: pass\n"
)


@dataclass(frozen=True)
class Workload:
    """A network and a batch size, trained on synthetic data of the given shape."""

    name: str
    sizes: tuple[int, ...]
    batch_size: int
    rows: int
    epochs: int  # per timed run
    dtype: str = "float64"


WORKLOADS = [  # runs of about 1.5 s, and MNIST's own size (56,000 training rows): about 6 s
    Workload("digits 64-128-10 b32", (64, 128, 10), 32, 1437, 100),
    Workload("digits 64-256-128-10 b32", (64, 256, 128, 10), 32, 1437, 25),
    Workload("mnist-sized 784-256-10 b128", (784, 256, 10), 128, 4096, 8),
    Workload("mnist-sized 784-256-10 b128, 56,000 rows", (784, 256, 10), 128, 56_000, 2),
]


SETTINGS = [1, max(candidates()), AUTO]  # the fixed counts, then auto
AGAIN = "1 again"  # --threads 1 run a second time in each repeat, to show the noise


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


def paired(times: list[float], baseline: list[float]) -> float:
    """The median, over the repeats, of each repeat's ratio of `times` to `baseline`."""
    return float(np.median(np.array(times) / np.array(baseline)))


def measure(repeats: int, quick: bool) -> list[dict]:
    """Every workload and setting, in each condition; one row per workload and condition."""
    settings = SETTINGS
    rows = []
    for condition in ("quiet", "one core busy"):
        busy = None
        if condition == "one core busy":
            busy = subprocess.Popen([sys.executable, "-c", BUSY_LOOP])
            time.sleep(1.0)  # let the scheduler see it
        try:
            for w in WORKLOADS:
                if quick:
                    w = Workload(w.name, w.sizes, w.batch_size, w.rows, max(w.epochs // 4, 1))
                data = synthetic(w)
                ms_per_epoch(w, data, 1)  # warm-up: first allocations, code paths
                runs = [*settings, AGAIN]
                times: dict[str, list[float]] = {str(s): [] for s in runs}
                loads, auto_used = [], []
                for repeat in range(repeats):
                    turn = repeat % len(runs)
                    for setting in runs[turn:] + runs[:turn]:
                        ms, used = ms_per_epoch(w, data, 1 if setting == AGAIN else setting)
                        times[str(setting)].append(ms)
                        loads.append(os.getloadavg()[0])
                        if setting == AUTO:
                            auto_used.append(used)
                medians = {s: float(np.median(v)) for s, v in times.items()}
                # The faster fixed count by its median; then auto against it repeat by repeat
                # (the runs of one repeat are seconds apart, so a slow spell hits them alike).
                fixed = min((s for s in settings if s != AUTO), key=lambda s: medians[str(s)])
                rows.append(
                    {
                        "workload": w.name,
                        "condition": condition,
                        "ms": medians,
                        "all_ms": times,
                        "faster_fixed": fixed,
                        "auto_over_best_fixed": paired(times[AUTO], times[str(fixed)]),
                        # the same setting twice: how far two identical runs differ here
                        "noise": paired(times[AGAIN], times["1"]),
                        "auto_used": auto_used,
                        "load": [min(loads), max(loads)],
                    }
                )
                print(format_row(rows[-1]), flush=True)
        finally:
            if busy is not None:
                busy.terminate()
                busy.wait()
    return rows


def table_head() -> list[str]:
    """The header lines of the table of `measure`'s rows."""
    columns = " | ".join(f"--threads {s}" for s in SETTINGS)
    return [
        f"| workload | machine | {columns} | auto / faster fixed | auto chose | "
        "noise: --threads 1 twice | load average |",
        "|---|---|" + "---|" * len(SETTINGS) + "---|---|---|---|",
    ]


def format_row(row: dict) -> str:
    """One row of the table: median ms per epoch of each setting, and the paired ratios."""
    ms = " | ".join(f"{row['ms'][str(s)]:.2f}" for s in SETTINGS)
    low, high = row["load"]
    return (
        f"| {row['workload']} | {row['condition']} | {ms} | "
        f"{row['auto_over_best_fixed']:.2f}x (vs {row['faster_fixed']}) | "
        f"{', '.join(map(str, row['auto_used']))} | {row['noise']:.2f}x | {low:.2f}-{high:.2f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="1 repeat, a quarter of the epochs")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    repeats = 1 if args.quick else args.repeats
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    head = (
        f"Measured {when} on {os.cpu_count()} cores; load average before: "
        f"{os.getloadavg()[0]:.2f}. Median of {repeats} interleaved runs, ms per epoch "
        "(whole runs, auto's measuring included)."
    )
    print(head)
    table = table_head()
    print("\n".join(table), flush=True)
    rows = measure(repeats, args.quick)
    table += [format_row(row) for row in rows]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "threads.md").write_text(head + "\n\n" + "\n".join(table) + "\n")
    (args.out / "threads.json").write_text(
        json.dumps({"measured": when, "repeats": repeats, "rows": rows}, indent=1) + "\n"
    )


if __name__ == "__main__":
    main()
