"""The datasets `mlp` knows by name, and loading one by name or CSV path."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from data.cache import Arrays, cached, fingerprint
from data.errors import DataError


@dataclass(frozen=True)
class Dataset:
    """Features, integer labels, and the original label of each class index."""

    name: str
    X: np.ndarray  # (n_samples, n_features) float64, all finite
    y: np.ndarray  # (n_samples,) int64 class indices 0..K-1
    classes: np.ndarray  # (K,) original labels, sorted; index k <-> output unit k
    feature_names: tuple[str, ...]

    @property
    def n_samples(self) -> int:
        """Rows of X."""
        return self.X.shape[0]

    @property
    def n_features(self) -> int:
        """Columns of X."""
        return self.X.shape[1]

    @property
    def n_classes(self) -> int:
        """Distinct labels."""
        return len(self.classes)


def _from_sklearn(loader_name: str) -> Callable[[], Dataset]:
    def from_sklearn() -> Arrays:
        import sklearn.datasets

        bunch = getattr(sklearn.datasets, loader_name)()
        # scikit-learn numbers the classes 0..K-1 and names them in target_names
        # (digits: 0..9; iris: setosa, versicolor, virginica; ...).
        return {
            "X": np.ascontiguousarray(bunch.data, dtype=np.float64),
            "y": np.asarray(bunch.target, dtype=np.int64),
            "classes": np.asarray(bunch.target_names.tolist()),
            "feature_names": np.asarray([str(n) for n in bunch.feature_names]),
        }

    def load() -> Dataset:
        arrays = cached("dataset", fingerprint(name=loader_name), from_sklearn)
        return Dataset(
            name=loader_name.removeprefix("load_"),
            X=arrays["X"],
            y=arrays["y"],
            classes=arrays["classes"],
            feature_names=tuple(arrays["feature_names"].tolist()),
        )

    return load


@dataclass(frozen=True)
class DatasetInfo:
    """A bundled dataset: its shape is stored so listing it needs no scikit-learn import."""

    name: str
    n_samples: int
    n_features: int
    n_classes: int
    description: str
    load: Callable[[], Dataset]


DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        DatasetInfo(
            "digits",
            1797,
            64,
            10,
            "8x8 images of handwritten digits 0-9",
            _from_sklearn("load_digits"),
        ),
        DatasetInfo(
            "iris",
            150,
            4,
            3,
            "Fisher's iris flowers: 4 measurements, 3 species",
            _from_sklearn("load_iris"),
        ),
        DatasetInfo(
            "wine",
            178,
            13,
            3,
            "chemical analysis of wines from 3 cultivars",
            _from_sklearn("load_wine"),
        ),
        DatasetInfo(
            "breast_cancer",
            569,
            30,
            2,
            "Wisconsin breast cancer diagnosis: malignant or benign",
            _from_sklearn("load_breast_cancer"),
        ),
    )
}


def load_dataset(source: str, target: str | None = None) -> Dataset:
    """A bundled dataset by name, or a CSV file by path (`target` names its label column)."""
    if source in DATASETS:
        if target is not None:
            raise DataError(f"target {target!r}: only a CSV dataset takes a label column name")
        return DATASETS[source].load()
    if source.lower().endswith(".csv"):
        from data.csvfile import load_csv

        return load_csv(Path(source), target)
    known = ", ".join(DATASETS)
    raise DataError(f"unknown dataset {source!r}; choose one of {known}, or a path to a .csv file")
