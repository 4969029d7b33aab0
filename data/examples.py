"""Writes the shipped example files: configs/wine-mixed.csv, a CSV as people have them, made
from the bundled wine set; and configs/tutorial.csv with configs/tutorial-init.npz, the
tutorials' worked softmax example as data and starting weights for `mlp explain`.

    python -m data.examples            # rewrites all three (the files are shipped)

The 178 wines keep 9 of their 13 measurements as numbers; alcohol and colour intensity become
text categories (low / medium / high, by tertile); each wine gets an id (`bottle`) and a free-
text `notes` column that is different on every row; 5% of the feature cells are blanked or
written `NA`; the label, `cultivar`, is a word and sits in the middle. configs/wine-mixed.yaml
trains on it with every CSV key in use.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent.parent / "configs" / "wine-mixed.csv"
BINNED = {"alcohol": ("low", "medium", "high"), "color_intensity": ("pale", "medium", "deep")}
KEPT = (
    "malic_acid",
    "ash",
    "alcalinity_of_ash",
    "magnesium",
    "total_phenols",
    "flavanoids",
    "nonflavanoid_phenols",
    "proanthocyanins",
    "hue",
)
CULTIVARS = ("barbera", "grignolino", "nebbiolo")


def rows(seed: int = 0) -> list[list[str]]:
    """The file's rows, header first (deterministic for a seed)."""
    from sklearn.datasets import load_wine

    wine = load_wine()
    rng = np.random.default_rng(seed)
    column = {name: wine.data[:, i] for i, name in enumerate(wine.feature_names)}
    cells: dict[str, list[str]] = {}
    for name, words in BINNED.items():
        edges = np.quantile(column[name], [1 / 3, 2 / 3])
        cells[name] = [words[int(np.searchsorted(edges, v))] for v in column[name]]
    for name in KEPT:
        cells[name] = [f"{v:g}" for v in column[name]]
    features = [*BINNED, *KEPT]
    for name in features:  # 5% of the feature cells are missing, as blanks or NA
        for i in np.flatnonzero(rng.random(len(wine.target)) < 0.05):
            cells[name][i] = "" if rng.random() < 0.5 else "NA"
    header = ["bottle", *features[:5], "cultivar", *features[5:], "notes"]
    out = [header]
    for i, target in enumerate(wine.target):
        note = f"tasted on day {i + 1}, glass {int(rng.integers(1, 9))}"
        row = [f"W{i + 1:03d}", *(cells[n][i] for n in features[:5]), CULTIVARS[target]]
        out.append([*row, *(cells[n][i] for n in features[5:]), note])
    return out


# The tutorials' softmax-layer example (../shared/seeds/): the probabilities a network gives
# the input x for five classes, the third of which is the truth.
TUTORIAL_P = (0.19091352, 0.20353145, 0.21698333, 0.23132428, 0.15724743)
TUTORIAL_X = (0.1, 0.5, 0.4)
TUTORIAL_CSV = OUT.parent / "tutorial.csv"
TUTORIAL_INIT = OUT.parent / "tutorial-init.npz"


def tutorial_rows() -> list[list[str]]:
    """x labelled with the third of five classes first (training row 0), then one row for
    each other class, so that the labels name five classes."""
    others = {
        "c1": (0.9, 0.1, 0.0),
        "c2": (0.0, 0.9, 0.1),
        "c4": (0.3, 0.3, 0.3),
        "c5": (0.0, 0.0, 1.0),
    }
    out = [["x1", "x2", "x3", "class"], [*map(str, TUTORIAL_X), "c3"]]
    return out + [[*map(str, x), label] for label, x in others.items()]


def tutorial_p() -> np.ndarray:
    """The tutorial's p made to sum to 1, as a softmax's do, within the rounding of every digit
    it prints. Printed to 8 decimals they sum to 1 + 1e-8; the truth's 0.21698333 must stay just
    above itself (its printed gradient, 0.5 (p_3 - 1) = -0.39150833, rounds from above), so p_3
    is 0.2169833305 and the other four give up the excess in equal shares (2.6e-9 each)."""
    p = np.array(TUTORIAL_P)
    p[2] = 0.2169833305
    others = np.arange(len(p)) != 2
    p[others] -= (p.sum() - 1.0) / others.sum()
    return p


def tutorial_weights() -> dict[str, np.ndarray]:
    """A softmax layer with W1 = 0 (3 x 5) and b1 = ln p: its output is p for any x, since
    softmax(ln p) = p for a p that sums to 1."""
    return {"W1": np.zeros((3, 5)), "b1": np.log(tutorial_p())}


def main() -> None:
    """Write the files."""
    for path, table in ((OUT, rows()), (TUTORIAL_CSV, tutorial_rows())):
        with open(path, "w", newline="") as file:
            csv.writer(file, lineterminator="\n").writerows(table)
        print(f"wrote {path}")
    with open(TUTORIAL_INIT, "wb") as file:
        np.savez(file, **tutorial_weights())
    print(f"wrote {TUTORIAL_INIT}")


if __name__ == "__main__":
    main()
