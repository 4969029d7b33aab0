"""The datasets `mlp` knows by name, and loading one by name or CSV path."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np

from data.cache import Arrays, cached, fingerprint
from data.csvfile import load_csv
from data.dataset import Dataset
from data.errors import DataError

DATASET_ARRAYS = ("X", "y", "classes", "feature_names")


def _from_sklearn(name: str) -> Arrays:
    """A bundled set as scikit-learn ships it, its classes sorted by label as a CSV's are."""
    from sklearn import datasets  # here, not at the top: the import takes most of a second

    loaders = {
        "digits": datasets.load_digits,
        "iris": datasets.load_iris,
        "wine": datasets.load_wine,
        "breast_cancer": datasets.load_breast_cancer,
    }
    bunch = loaders[name]()
    # scikit-learn numbers the classes in its own order (breast_cancer: 0 = malignant,
    # 1 = benign); re-deriving the indices from the sorted labels gives every dataset the
    # same rule, so class k is always the k-th label in sorted order.
    labels = np.asarray(bunch.target_names.tolist())[bunch.target]
    classes, y = np.unique(labels, return_inverse=True)
    return {
        "X": np.ascontiguousarray(bunch.data, dtype=np.float64),
        "y": y.astype(np.int64),
        "classes": classes,
        "feature_names": np.asarray([str(feature) for feature in bunch.feature_names]),
    }


def _load_bundled(name: str) -> Dataset:
    # `classes="sorted"` in the key: arrays cached before the indices followed sorted labels
    # must not be read back as if they did.
    key = fingerprint(name=name, classes="sorted")
    arrays = cached("dataset", key, DATASET_ARRAYS, partial(_from_sklearn, name))
    return Dataset(
        name=name,
        X=arrays["X"],
        y=arrays["y"],
        classes=arrays["classes"],
        feature_names=tuple(arrays["feature_names"].tolist()),
    )


@dataclass(frozen=True)
class DatasetInfo:
    """A bundled dataset: its shape is stored so listing it needs no scikit-learn import."""

    name: str
    n_samples: int
    n_features: int
    n_classes: int
    description: str
    load: Callable[[], Dataset]


def _bundled(
    name: str, n_samples: int, n_features: int, n_classes: int, description: str
) -> DatasetInfo:
    load = partial(_load_bundled, name)
    return DatasetInfo(name, n_samples, n_features, n_classes, description, load)


# Sizes from scikit-learn's documentation of each loader; a test checks them against the data.
DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        _bundled("digits", 1797, 64, 10, "8x8 images of handwritten digits 0-9"),
        _bundled("iris", 150, 4, 3, "Fisher's iris flowers: 4 measurements, 3 species"),
        _bundled("wine", 178, 13, 3, "chemical analysis of wines from 3 cultivars"),
        _bundled(
            "breast_cancer", 569, 30, 2, "Wisconsin breast cancer diagnosis: malignant or benign"
        ),
    )
}


def load_dataset(source: str, target: str | None = None) -> Dataset:
    """A bundled dataset by name, or a CSV file by path (`target` names its label column).

    A CSV's labels come from column `target`, by default the last; the other columns are
    the features.
    """
    if source in DATASETS:
        if target is not None:
            raise DataError(
                f"target {target!r}: only a CSV dataset takes a label column name; "
                f"{source} has its own labels"
            )
        ds = DATASETS[source].load()
        import dataclasses
        import hashlib  # TEMP shim until helper A lands
        h = hashlib.sha256(ds.X.tobytes() + ds.y.tobytes()).hexdigest()
        return dataclasses.replace(ds, record={"kind": "bundled", "name": source, "sha256": h})
    if source.lower().endswith(".csv"):
        import dataclasses
        import hashlib
        import os  # TEMP shim until helper A lands
        ds = load_csv(source, target)
        from pathlib import Path  # TEMP
        raw = Path(source).read_bytes()
        rec = {"kind": "csv", "path": os.path.abspath(source), "size": len(raw), "sha256": hashlib.sha256(raw).hexdigest()}
        return dataclasses.replace(ds, record=rec)
    known = ", ".join(DATASETS)
    raise DataError(f"unknown dataset {source!r}; choose one of {known}, or a path to a .csv file")
