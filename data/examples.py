"""Writes configs/wine-mixed.csv: a CSV as people have them, made from the bundled wine set.

    python -m data.examples            # rewrites configs/wine-mixed.csv (the file is shipped)

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


def main() -> None:
    """Write the file."""
    with open(OUT, "w", newline="") as file:
        csv.writer(file, lineterminator="\n").writerows(rows())
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
