"""Tabular CSV files: time from file to training matrix, and accuracy on a real mixed dataset.

    pip install -e '.[test]' pandas palmerpenguins   # pandas: the peer (and our fast parser)
    python benchmarks/tabular.py                     # ~2 minutes on 2 cores
    python benchmarks/tabular.py --quick             # 2 repeats, a 20,000-row file

Speed: a generated 100,000 x 30 file (26 numeric columns, 3 text columns, an integer label;
5% of the feature cells missing, as empty cells or `NA`) is turned into the standardised,
one-hot, imputed training matrix and label indices by
  ours          data.table.read_table + data.encoding (pandas' C reader underneath)
  ours, csv     the same with the `csv` module's reader (what runs without pandas)
  pandas + CT   pandas.read_csv + scikit-learn's ColumnTransformer (SimpleImputer then
                StandardScaler on the numbers, SimpleImputer then OneHotEncoder on the text)
interleaved in one process (ours, peer, ours, ...): the median seconds (min-max), and the
median over the repeats of each repeat's ratio to pandas + CT.

Accuracy: palmerpenguins' penguins.csv (344 rows; numbers, text categories, `NA` cells), for
two labels (species; sex, whose missing labels leave 11 rows out), over 3 seeds of a
stratified 70/30 split: test accuracy of our preprocessing + mlp's own network, of our
preprocessing + scikit-learn's MLPClassifier, and of the ColumnTransformer + MLPClassifier,
all with the same hidden layer, optimizer (Adam), learning rate, batch size and epochs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from data.encoding import Preprocessor, choose_columns, encode_labels  # noqa: E402
from data.table import MISSING_MARKERS, read_table  # noqa: E402

TEXT_COLUMNS = {"colour": 5, "city": 40, "flag": 2}  # name -> how many categories


def make_mixed_file(path: Path, n_rows: int, seed: int = 0) -> None:
    """The benchmark file: 26 numeric columns, 3 text ones, 5% missing, an integer label."""
    rng = np.random.default_rng(seed)
    columns: list[np.ndarray] = []
    for _ in range(26):
        values = rng.normal(size=n_rows) * rng.uniform(0.5, 100)
        columns.append(np.char.mod("%.6g", values).astype(object))
    for name, k in TEXT_COLUMNS.items():
        columns.append(
            np.array([f"{name}{i}" for i in range(k)], dtype=object)[rng.integers(0, k, n_rows)]
        )
    for cells in columns:
        gone = rng.random(n_rows) < 0.05
        cells[gone] = np.where(rng.random(gone.sum()) < 0.5, "", "NA")
    columns.append(rng.integers(0, 3, n_rows).astype(str).astype(object))
    names = [f"x{j}" for j in range(26)] + list(TEXT_COLUMNS) + ["label"]
    rows = np.stack(columns, axis=1)
    with open(path, "w", encoding="utf-8") as f:
        f.write(",".join(names) + "\n")
        f.writelines(",".join(row) + "\n" for row in rows)


# -- speed ----------------------------------------------------------------------------------


def ours(path: Path):
    table = read_table(path)
    roles = choose_columns(table)
    labels = encode_labels(table, roles.target, missing="impute")
    table = table.take(labels.kept)
    prep = Preprocessor.fit(table, roles.features, missing="impute")
    return prep.transform(table), labels.y


def column_transformer(numbers: list[str], text: list[str]):
    """scikit-learn's equivalent of our preprocessing: impute and scale the numbers, impute
    and one-hot encode the text (unseen categories as zeros)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    return ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(), StandardScaler()), numbers),
            (
                "cat",
                make_pipeline(
                    SimpleImputer(strategy="most_frequent"),
                    OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                ),
                text,
            ),
        ]
    )


def peer(path: Path):
    import pandas as pd

    frame = pd.read_csv(path, keep_default_na=False, na_values=list(MISSING_MARKERS))
    frame = frame[frame["label"].notna()]
    y = np.unique(frame.pop("label").to_numpy(), return_inverse=True)[1]
    text = list(TEXT_COLUMNS)
    numbers = [name for name in frame.columns if name not in text]
    transform = column_transformer(numbers, text)
    return transform.fit_transform(frame), y


def speed(n_rows: int, repeats: int) -> list[tuple[str, float, float]]:
    """(peer, median seconds, ratio to pandas + CT) with the spread printed as it goes."""
    import pandas  # noqa: F401  (imported before timing, as a running program would have it)
    import sklearn.compose  # noqa: F401

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "mixed.csv"
        make_mixed_file(path, n_rows)
        X_ours, y_ours = ours(path)
        X_peer, y_peer = peer(path)
        assert X_ours.shape == X_peer.shape and np.array_equal(y_ours, y_peer)
        peers = {"ours": ours, "pandas + CT": peer}
        times: dict[str, list[float]] = {name: [] for name in peers}
        for _ in range(repeats):
            for name, run in peers.items():
                started = time.perf_counter()
                run(path)
                times[name].append(time.perf_counter() - started)
        size = path.stat().st_size
    base = times["pandas + CT"]
    print(f"\n{n_rows:,} x 30 file, {size / 1e6:.1f} MB, {repeats} interleaved repeats")
    rows = []
    for name, seconds in times.items():
        median = statistics.median(seconds)
        # the ratio within each repeat, then its median: a slow spell hits both peers
        paired = statistics.median(s / b for s, b in zip(seconds, base))
        rows.append((name, median, paired))
        print(
            f"  {name:12s} {median:6.3f} s ({min(seconds):.3f}-{max(seconds):.3f})"
            f"  {paired:5.2f}x pandas + CT"
        )
    return rows


# -- accuracy -------------------------------------------------------------------------------

HIDDEN, LR, BATCH, EPOCHS = (32,), 0.01, 16, 100


def _penguins() -> Path:
    from importlib.resources import files

    return Path(str(files("palmerpenguins") / "data" / "penguins.csv"))


def _sklearn_mlp(seed: int):
    from sklearn.neural_network import MLPClassifier

    return MLPClassifier(
        hidden_layer_sizes=HIDDEN,
        activation="logistic",
        solver="adam",
        learning_rate_init=LR,
        batch_size=BATCH,
        max_iter=EPOCHS,
        alpha=0.0,
        tol=0.0,
        n_iter_no_change=EPOCHS + 1,  # exactly EPOCHS epochs
        random_state=seed,
    )


def accuracy_one(path: Path, target: str, seed: int) -> tuple[float, float, float]:
    """Test accuracy of (our prep + mlp, our prep + sklearn MLP, ColumnTransformer + MLP)."""
    import pandas as pd
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline

    from mlp import MLP, Adam, Trainer, evaluate

    table = read_table(path)
    roles = choose_columns(table, target=target)
    labels = encode_labels(table, target, missing="impute")
    table = table.take(labels.kept)
    train, test = train_test_split(
        np.arange(table.n_rows), test_size=0.3, stratify=labels.y, random_state=seed
    )
    prep = Preprocessor.fit(table.take(train), roles.features, missing="impute")
    X_train, X_test = prep.transform(table.take(train)), prep.transform(table.take(test))
    y_train, y_test = labels.y[train], labels.y[test]

    rng = np.random.default_rng(seed)
    model = MLP([X_train.shape[1], *HIDDEN, len(labels.classes)], rng)
    for _ in Trainer(model, Adam(LR), X_train, y_train, batch_size=BATCH, rng=rng).run(EPOCHS):
        pass
    ours_mlp = evaluate(model, X_test, y_test).accuracy

    frame = pd.read_csv(path, keep_default_na=False, na_values=list(MISSING_MARKERS))
    frame = frame[frame[target].notna()].reset_index(drop=True)
    frame.pop(target)
    text = [name for name in frame.columns if frame[name].dtype.kind not in "if"]
    numbers = [name for name in frame.columns if name not in text]
    transform = column_transformer(numbers, text)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours_sk = _sklearn_mlp(seed).fit(X_train, y_train).score(X_test, y_test)
        theirs = make_pipeline(transform, _sklearn_mlp(seed))
        theirs.fit(frame.iloc[train], y_train)
        theirs_acc = theirs.score(frame.iloc[test], y_test)
    return float(ours_mlp), float(ours_sk), float(theirs_acc)


def accuracy(seeds: tuple[int, ...] = (0, 1, 2)) -> list[tuple[str, tuple[float, ...]]]:
    path = _penguins()
    print(
        f"\npenguins.csv ({path.stat().st_size:,} bytes), hidden {HIDDEN}, Adam lr {LR}, "
        f"batch {BATCH}, {EPOCHS} epochs, seeds {seeds}: mean test accuracy"
    )
    rows = []
    for target in ("species", "sex"):
        runs = np.array([accuracy_one(path, target, seed) for seed in seeds])
        means = tuple(float(m) for m in runs.mean(axis=0))
        rows.append((target, means))
        print(
            f"  {target:8s} ours + mlp {means[0]:.4f}   ours + sklearn MLP {means[1]:.4f}   "
            f"ColumnTransformer + sklearn MLP {means[2]:.4f}   "
            f"gap {100 * (means[0] - means[2]):+.2f} points"
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 repeats on 20,000 rows")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-accuracy", action="store_true")
    args = parser.parse_args()
    if args.quick:
        speed(20_000, 2)
    else:
        speed(100_000, args.repeats)
    if not args.no_accuracy:
        accuracy()


if __name__ == "__main__":
    main()
