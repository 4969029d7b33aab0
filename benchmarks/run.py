"""Benchmark mlp's core against scikit-learn's MLPClassifier and PyTorch, in one process.

    python benchmarks/run.py            # everything, 5 interleaved repeats (about 8 minutes)
    python benchmarks/run.py --quick    # fewer repeats and epochs, for a smoke test

For each workload the peers train the same network (logistic hidden layers, softmax output),
with the same optimizer, learning rate, batch size and epochs, no regularisation, on the same
standardised 80/20 stratified split. Runs are interleaved (ours, sklearn, torch, ours, ...) so
that a noisy neighbour slows every peer alike; each figure is the median over the repeats,
with the spread (min-max). The matrix-product floor is the time of just one epoch's matmuls at
the same shapes, measured in the same process. PyTorch is used when installed (CPU only) and
is never a dependency of mlp.

Two more tables come from their own scripts, run from here in the same process: the floor
ratios at one BLAS thread (floor.py: an epoch against the five matrix products of its steps)
and the thread rows (threads.py: --threads 1, 2 and auto, quiet and with one core busy). Every
table gives the machine's 1-minute load average during its measurement. Results go to
benchmarks/results/latest.{md,json}.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import tracemalloc
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.floor import floor_rows, format_floor_table  # noqa: E402
from mlp import MLP, SGD, Adam, Trainer, evaluate  # noqa: E402


@dataclass(frozen=True)
class Workload:
    """One network, optimizer and dataset to time."""

    name: str
    dataset: str  # "digits", "iris" or "mnist-like"
    hidden: tuple[int, ...]
    batch_size: int
    optimizer: str  # "sgd" (momentum 0.9) or "adam"
    lr: float
    dtype: str
    epochs: int


WORKLOADS = [
    Workload("digits 64-128-10 b32 sgd", "digits", (128,), 32, "sgd", 0.1, "float64", 20),
    Workload("digits 64-128-10 b32 sgd", "digits", (128,), 32, "sgd", 0.1, "float32", 20),
    Workload("digits 64-128-10 b32 adam", "digits", (128,), 32, "adam", 0.002, "float64", 20),
    Workload("digits 64-128-10 b32 adam", "digits", (128,), 32, "adam", 0.002, "float32", 20),
    Workload("digits 64-256-128-10 b32 sgd", "digits", (256, 128), 32, "sgd", 0.1, "float64", 20),
    Workload("digits 64-128-10 b128 sgd", "digits", (128,), 128, "sgd", 0.1, "float64", 40),
    Workload("digits 64-128-10 b1 sgd", "digits", (128,), 1, "sgd", 0.01, "float64", 2),
    Workload("iris 4-16-3 b16 sgd", "iris", (16,), 16, "sgd", 0.1, "float64", 100),
    Workload(
        "mnist-like 784-256-10 b128 sgd", "mnist-like", (256,), 128, "sgd", 0.05, "float32", 2
    ),
    Workload(
        "mnist-like 784-256-10 b128 sgd", "mnist-like", (256,), 128, "sgd", 0.05, "float64", 2
    ),
]


# -- data ----------------------------------------------------------------------------------


def load(dataset: str):
    """Standardised, stratified 80/20 split of a dataset, as float64."""
    from sklearn.datasets import load_digits, load_iris, make_classification
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    if dataset == "mnist-like":
        X, y = make_classification(
            n_samples=70_000,
            n_features=784,
            n_informative=64,
            n_redundant=64,
            n_classes=10,
            n_clusters_per_class=2,
            class_sep=2.0,
            random_state=0,
        )
    else:
        X, y = {"digits": load_digits, "iris": load_iris}[dataset](return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.2, stratify=y, random_state=0
    )
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), y_train, scaler.transform(X_test), y_test


# -- the peers: each returns (ms per epoch, test accuracy) ------------------------------------


def run_ours(w: Workload, data, seed: int):
    X, y, X_test, y_test = data
    rng = np.random.default_rng(seed)
    model = MLP([X.shape[1], *w.hidden, int(y.max()) + 1], rng, dtype=w.dtype)
    optimizer = SGD(w.lr, momentum=0.9) if w.optimizer == "sgd" else Adam(w.lr)
    trainer = Trainer(model, optimizer, X, y, batch_size=w.batch_size, rng=rng)
    started = time.perf_counter()
    for _ in trainer.run(w.epochs):
        pass
    elapsed = time.perf_counter() - started
    return 1000 * elapsed / w.epochs, evaluate(model, X_test, y_test).accuracy


def run_sklearn(w: Workload, data, seed: int):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    X, y, X_test, y_test = data
    model = MLPClassifier(
        hidden_layer_sizes=w.hidden,
        activation="logistic",
        solver=w.optimizer,
        learning_rate_init=w.lr,
        momentum=0.9,
        nesterovs_momentum=False,
        batch_size=w.batch_size,
        max_iter=w.epochs,
        alpha=0.0,
        shuffle=True,
        tol=0.0,
        n_iter_no_change=w.epochs + 1,  # never stop early: exactly `epochs` epochs
        random_state=seed,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        started = time.perf_counter()
        model.fit(X.astype(w.dtype), y)
        elapsed = time.perf_counter() - started
    return 1000 * elapsed / w.epochs, float(model.score(X_test.astype(w.dtype), y_test))


def run_torch(w: Workload, data, seed: int):
    import torch

    X, y, X_test, y_test = data
    torch.manual_seed(seed)
    dtype = {"float64": torch.float64, "float32": torch.float32}[w.dtype]
    sizes = [X.shape[1], *w.hidden, int(y.max()) + 1]
    layers: list = []
    for fan_in, fan_out in itertools.pairwise(sizes):
        layers += [torch.nn.Linear(fan_in, fan_out), torch.nn.Sigmoid()]
    net = torch.nn.Sequential(*layers[:-1]).to(dtype)
    if w.optimizer == "sgd":
        optimizer = torch.optim.SGD(net.parameters(), lr=w.lr, momentum=0.9)
    else:
        optimizer = torch.optim.Adam(net.parameters(), lr=w.lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    Xt, yt = torch.tensor(X, dtype=dtype), torch.tensor(y, dtype=torch.long)
    started = time.perf_counter()
    for _ in range(w.epochs):
        order = torch.randperm(len(Xt))
        for i in range(0, len(Xt), w.batch_size):
            idx = order[i : i + w.batch_size]
            optimizer.zero_grad()
            loss_fn(net(Xt[idx]), yt[idx]).backward()
            optimizer.step()
    elapsed = time.perf_counter() - started
    with torch.no_grad():
        predicted = net(torch.tensor(X_test, dtype=dtype)).argmax(dim=1).numpy()
    return 1000 * elapsed / w.epochs, float((predicted == y_test).mean())


def matmul_floor(w: Workload, data) -> float:
    """Milliseconds for one epoch's matrix products alone, at the workload's shapes."""
    X = data[0].astype(w.dtype)
    n = len(X)
    sizes = [X.shape[1], *w.hidden, int(data[1].max()) + 1]
    rng = np.random.default_rng(0)
    Ws = [rng.normal(size=(a, b)).astype(w.dtype) for a, b in itertools.pairwise(sizes)]

    def epoch():
        for start in range(0, n, w.batch_size):
            a = X[start : start + w.batch_size]
            acts = [a]
            for W in Ws:  # forward: z_l = a_{l-1} W_l
                acts.append(acts[-1] @ W)
            delta = acts[-1]
            for layer in range(len(Ws) - 1, -1, -1):  # backward: grad_W and delta
                _ = acts[layer].T @ delta
                if layer:
                    delta = delta @ Ws[layer].T

    epoch()
    times = []
    for _ in range(5):
        started = time.perf_counter()
        epoch()
        times.append(time.perf_counter() - started)
    return 1000 * float(np.median(times))


# -- whole-process figures ------------------------------------------------------------------


# Run from a small, fresh interpreter: a child's peak memory (ru_maxrss) starts at its parent's
# size at fork, and this benchmark's own process holds the MNIST-sized data.
MEASURE = (
    "import resource, subprocess, sys, time\n"
    "started = time.perf_counter()\n"
    "code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode\n"
    "wall = time.perf_counter() - started\n"
    "print(wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, code)\n"
)


def measure_process(command: list[str], cwd: Path) -> dict:
    """Wall time and peak resident memory of a command run as a child process."""
    output = subprocess.run(
        [sys.executable, "-c", MEASURE, *command], cwd=cwd, capture_output=True, text=True
    )
    wall, peak_kb, code = output.stdout.split()
    if code != "0":
        raise RuntimeError(f"{command} failed: {output.stderr}")
    return {"seconds": float(wall), "peak_mb": int(peak_kb) / 1024}


SKLEARN_DIGITS = """
import warnings
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler
X, y = load_digits(return_X_y=True)
X_rest, X_test, y_rest, y_test = train_test_split(X, y, test_size=0.2, stratify=y, random_state=0)
scaler = StandardScaler().fit(X_rest)
clf = MLPClassifier((128,), activation="logistic", solver="adam", learning_rate_init=0.002,
                    batch_size=32, max_iter=40, alpha=0.0, tol=0.0, n_iter_no_change=41,
                    random_state=0)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    clf.fit(scaler.transform(X_rest), y_rest)
print(clf.score(scaler.transform(X_test), y_test))
"""


def process_figures(repeats: int) -> dict:
    """`mlp train` on digits vs an equivalent scikit-learn script, and the CLI's start-up."""
    mlp = [sys.executable, "-m", "cli"]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "sklearn_digits.py"
        script.write_text(SKLEARN_DIGITS)
        commands = {
            "mlp train digits": [
                *mlp,
                "train",
                "--config",
                str(ROOT / "configs" / "digits.yaml"),
                "--out",
                str(Path(tmp) / "run"),
                "--overwrite",
                "-q",
            ],
            "scikit-learn digits script": [sys.executable, str(script)],
            "mlp --help": [*mlp, "--help"],
            "mlp datasets": [*mlp, "datasets"],
            "python -c 'import numpy'": [sys.executable, "-c", "import numpy"],
        }
        for name, command in commands.items():
            runs = [measure_process(command, ROOT) for _ in range(repeats)]
            results[name] = {
                "seconds": float(np.median([r["seconds"] for r in runs])),
                "peak_mb": float(np.median([r["peak_mb"] for r in runs])),
            }
    return results


def memory_figures(w: Workload, data) -> dict:
    """Extra memory training allocates beyond its data, and whether it grows per epoch."""
    X, y = data[0].astype(w.dtype), data[1]
    data_mb = (X.nbytes + y.nbytes) / 2**20
    tracemalloc.start()
    rng = np.random.default_rng(0)
    model = MLP([X.shape[1], *w.hidden, int(y.max()) + 1], rng, dtype=w.dtype)
    trainer = Trainer(model, SGD(w.lr, momentum=0.9), X, y, batch_size=w.batch_size, rng=rng)
    after = []
    for _ in trainer.run(3):
        after.append(tracemalloc.get_traced_memory()[0] / 2**20)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "training_data_mb": data_mb,
        "extra_peak_mb": peak / 2**20,
        "extra_after_each_epoch_mb": after,
    }


def thread_rows(repeats: int, quick: bool) -> list[dict]:
    """threads.py's rows: each workload at --threads 1, 2 and auto, quiet and one core busy."""
    from benchmarks import threads

    return threads.measure(repeats, quick)


def format_thread_table(rows: list[dict]) -> list[str]:
    """threads.py's table of `thread_rows`."""
    from benchmarks import threads

    return [*threads.table_head(), *(threads.format_row(row) for row in rows)]


# -- reporting -----------------------------------------------------------------------------


def blas_info() -> str:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "threadpoolctl not installed"
    return "; ".join(
        f"{i['internal_api']} {i.get('version')} ({i.get('architecture')}, "
        f"{i['num_threads']} threads)"
        for i in threadpool_info()
        if i["user_api"] == "blas"
    )


def spread(values) -> str:
    return f"{np.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="2 repeats, fewer epochs")
    parser.add_argument("--only", help="run only workloads whose name contains this")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    repeats = 2 if args.quick else args.repeats

    peers = {"ours": run_ours, "sklearn": run_sklearn}
    try:
        import torch

        peers["torch"] = run_torch
        torch_note = f"torch {torch.__version__}, {torch.get_num_threads()} threads"
    except ImportError:
        torch_note = "PyTorch not installed: its column is skipped (pip install torch to add it)"

    machine = f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}"
    print(f"machine: {machine}\nBLAS: {blas_info()}\nPyTorch: {torch_note}\n", flush=True)
    loaded = {}
    rows = []
    for w in WORKLOADS:
        if args.only and args.only not in w.name:
            continue
        if args.quick:
            w = Workload(**{**w.__dict__, "epochs": max(1, w.epochs // 4)})
        if w.dataset not in loaded:
            loaded[w.dataset] = load(w.dataset)
        data = loaded[w.dataset]
        typed = (data[0].astype(w.dtype), data[1], data[2].astype(w.dtype), data[3])
        times: dict[str, list[float]] = {name: [] for name in peers}
        accuracy: dict[str, float] = {}
        load_before = os.getloadavg()[0]
        for repeat in range(repeats):
            for name, run in peers.items():  # interleaved: ours, sklearn, torch, ours, ...
                ms, acc = run(w, typed, seed=repeat)
                times[name].append(ms)
                accuracy[name] = acc
        floor = matmul_floor(w, typed)
        ours = float(np.median(times["ours"]))
        row = {
            "workload": w.name,
            "dtype": w.dtype,
            "epochs": w.epochs,
            "ms_per_epoch": {name: float(np.median(t)) for name, t in times.items()},
            "spread": {name: [min(t), max(t)] for name, t in times.items()},
            "accuracy": accuracy,
            "floor_ms": floor,
            "load": [load_before, os.getloadavg()[0]],
            "ours_over_floor": ours / floor,
            "ours_over": {
                name: ours / float(np.median(t)) for name, t in times.items() if name != "ours"
            },
        }
        rows.append(row)
        ratios = ", ".join(f"{v:.2f}x {k}" for k, v in row["ours_over"].items())
        print(
            f"{w.name} {w.dtype}: ours {spread(times['ours'])} ms/epoch, {ratios}, "
            f"{row['ours_over_floor']:.2f}x floor ({floor:.2f} ms); accuracy "
            + ", ".join(f"{k} {v:.3f}" for k, v in accuracy.items()),
            flush=True,
        )

    mnist = next((w for w in WORKLOADS if w.dataset == "mnist-like"), None)
    memory = memory_figures(mnist, loaded.get("mnist-like") or load("mnist-like")) if mnist else {}
    processes = process_figures(3 if not args.quick else 1)
    print(json.dumps({"memory": memory, "processes": processes}, indent=2))
    extra = {}
    if not args.only:
        floor = floor_rows(3 if args.quick else 15, load, loaded)
        print("\n".join(format_floor_table(floor)), flush=True)
        threads = thread_rows(repeats=1 if args.quick else 3, quick=args.quick)
        extra = {"floor": floor, "threads": threads}
    write_report(args.out, machine, rows, memory, processes, torch_note, repeats, extra)


def write_report(
    out: Path, machine, rows, memory, processes, torch_note, repeats, extra: dict
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    peers = [p for p in ("sklearn", "torch") if any(p in r["ms_per_epoch"] for r in rows)]
    lines = [
        f"Measured {stamp} on {machine}; BLAS: {blas_info()}; {torch_note}.",
        f"Median of {repeats} interleaved repeats (min-max in brackets), ms per training epoch.",
        "",
        "| workload | dtype | ours ms/epoch | "
        + " | ".join(f"{p} ms/epoch | ours/{p}" for p in peers)
        + " | matmul floor ms | ours/floor | test acc (ours / "
        + " / ".join(peers)
        + ") | load average |",
        "|" + "---|" * (5 + 2 * len(peers) + 2),
    ]
    for r in rows:
        cells = [r["workload"], r["dtype"], fmt_spread(r, "ours")]
        for p in peers:
            cells += (
                [fmt_spread(r, p), f"{r['ours_over'][p]:.2f}x"]
                if p in r["ours_over"]
                else [
                    "-",
                    "-",
                ]
            )
        cells += [f"{r['floor_ms']:.2f}", f"{r['ours_over_floor']:.2f}x"]
        cells.append(
            " / ".join(f"{r['accuracy'][p]:.3f}" for p in ["ours", *peers] if p in r["accuracy"])
        )
        cells.append(f"{r['load'][0]:.2f}-{r['load'][1]:.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "| process | wall s | peak MB |", "|---|---|---|"]
    for name, figures in processes.items():
        lines.append(f"| `{name}` | {figures['seconds']:.2f} | {figures['peak_mb']:.0f} |")
    if memory:
        lines += [
            "",
            f"MNIST-sized training (float32): training data {memory['training_data_mb']:.0f} MB, "
            f"extra memory allocated while training: peak {memory['extra_peak_mb']:.1f} MB, "
            "after each of 3 epochs: "
            + ", ".join(f"{m:.1f}" for m in memory["extra_after_each_epoch_mb"])
            + " MB.",
        ]
    if "floor" in extra:
        lines += [
            "",
            "The floor at one BLAS thread (`floor.py`): a training epoch against the five matrix",
            "products of its steps, alternating, median of the per-round ratios.",
            "",
            *format_floor_table(extra["floor"]),
        ]
    if "threads" in extra:
        lines += [
            "",
            "The thread rows (`threads.py`): ms per epoch of whole short runs, the thread choice's",
            "own measuring included.",
            "",
            *format_thread_table(extra["threads"]),
        ]
    (out / "latest.md").write_text("\n".join(lines) + "\n")
    (out / "latest.json").write_text(
        json.dumps(
            {
                "date": stamp,
                "machine": machine,
                "blas": blas_info(),
                "torch": torch_note,
                "workloads": rows,
                "memory": memory,
                "processes": processes,
                **extra,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"\nwrote {out / 'latest.md'} and {out / 'latest.json'}")


def fmt_spread(row, peer) -> str:
    low, high = row["spread"][peer]
    return f"{row['ms_per_epoch'][peer]:.2f} ({low:.2f}-{high:.2f})"


if __name__ == "__main__":
    main()
