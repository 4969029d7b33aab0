"""The datasets `mlp` knows by name, and loading one by name or CSV path."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np

from data.cache import Arrays, cached, fingerprint
from data.dataset import Dataset
from data.digest import arrays_sha256
from data.errors import DataError
from data.tabular import TableSettings, is_table_path, load_table_dataset
from data.targets import AUTO

DATASET_ARRAYS = ("X", "y", "classes", "feature_names")


def _from_sklearn(name: str) -> Arrays:
    """A bundled set as scikit-learn ships it, its classes sorted by label as a CSV's are (a
    regression's target as one column named "target")."""
    from sklearn import datasets  # here, not at the top: the import takes most of a second

    loaders = {
        "digits": datasets.load_digits,
        "iris": datasets.load_iris,
        "wine": datasets.load_wine,
        "breast_cancer": datasets.load_breast_cancer,
        "diabetes": datasets.load_diabetes,
    }
    bunch = loaders[name]()
    features = np.asarray([str(feature) for feature in bunch.feature_names])
    X = np.ascontiguousarray(bunch.data, dtype=np.float64)
    if DATASETS[name].task == "regression":
        y = np.asarray(bunch.target, dtype=np.float64).reshape(len(X), -1)
        return {"X": X, "y": y, "classes": np.asarray(["target"]), "feature_names": features}
    # scikit-learn numbers the classes in its own order (breast_cancer: 0 = malignant,
    # 1 = benign); re-deriving the indices from the sorted labels gives every dataset the
    # same rule, so class k is always the k-th label in sorted order.
    labels = np.asarray(bunch.target_names.tolist())[bunch.target]
    classes, y = np.unique(labels, return_inverse=True)
    return {"X": X, "y": y.astype(np.int64), "classes": classes, "feature_names": features}


def _bundled_sha256(arrays: Arrays) -> str:
    """The digest of a bundled set's arrays, as its record carries it."""
    return arrays_sha256(*(arrays[name] for name in DATASET_ARRAYS))


def _with_sha256(arrays: Arrays) -> Arrays:
    return {**arrays, "sha256": np.asarray(_bundled_sha256(arrays))}


def _intact(name: str, arrays: Arrays) -> bool:
    """Whether cached arrays are what was stored: the digest stored with them still matches.

    A file damaged on disk, or arrays that hash right but would break training later (the
    wrong shape, say), are refused, and the dataset is loaded afresh.
    """
    info = DATASETS[name]
    X, y, classes, features = (arrays[key] for key in DATASET_ARRAYS)
    if info.task == "regression":  # one float column per target, all finite
        targets_fit = (
            y.dtype == np.float64
            and y.shape == (info.n_samples, info.n_classes)
            and bool(np.isfinite(y).all())
        )
    else:
        targets_fit = (
            y.dtype == np.int64
            and y.shape == (info.n_samples,)
            and bool(((y >= 0) & (y < info.n_classes)).all())
        )
    return (
        targets_fit
        and arrays["sha256"].shape == ()
        and str(arrays["sha256"]) == _bundled_sha256(arrays)
        and X.dtype == np.float64
        and X.shape == (info.n_samples, info.n_features)
        and classes.shape == (info.n_classes,)
        and features.shape == (info.n_features,)
        and classes.dtype.kind in "ifU"  # never object: that would need pickle
        and features.dtype.kind == "U"
    )


def _load_bundled(name: str) -> Dataset:
    # `classes="sorted"` in the key: arrays cached before the indices followed sorted labels
    # must not be read back as if they did.
    key = fingerprint(name=name, classes="sorted")
    task = DATASETS[name].task
    arrays = cached(
        "dataset",
        key,
        (*DATASET_ARRAYS, "sha256"),
        lambda: _with_sha256(_from_sklearn(name)),
        partial(_intact, name),
    )
    return Dataset(
        name=name,
        X=arrays["X"],
        y=arrays["y"],
        classes=arrays["classes"],
        feature_names=tuple(arrays["feature_names"].tolist()),
        record={"kind": "bundled", "name": name, "sha256": str(arrays["sha256"])},
        task=task,
    )


@dataclass(frozen=True)
class DatasetInfo:
    """A bundled dataset: its shape is stored so listing it needs no scikit-learn import.
    `n_classes` counts its output units: classes, or a regression's target columns."""

    name: str
    n_samples: int
    n_features: int
    n_classes: int
    description: str
    load: Callable[[], Dataset]
    task: str = "classification"


def _bundled(
    name: str,
    n_samples: int,
    n_features: int,
    n_classes: int,
    description: str,
    task: str = "classification",
) -> DatasetInfo:
    load = partial(_load_bundled, name)
    return DatasetInfo(name, n_samples, n_features, n_classes, description, load, task)


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
        # scikit-learn's X: each column mean-centred and scaled to unit norm (`scaled=True`)
        _bundled(
            "diabetes",
            442,
            10,
            1,
            "disease progression a year after 10 baseline measurements (a number)",
            task="regression",
        ),
    )
}


def load_dataset(source: str, settings: TableSettings | None = None) -> Dataset:
    """A bundled dataset by name, or a CSV, TSV or text file by path, read as `settings` say
    (its label column, columns left out, the id, categories, missing cells, delimiter, header).
    """
    settings = settings or TableSettings()
    if source in DATASETS:
        task = DATASETS[source].task
        if settings.task not in (AUTO, task):
            raise DataError(f"task: {settings.task}: {source} is a {task} set")
        changed = [
            f"data.{key}"
            for key, value in vars(settings).items()
            if key != "task" and value != getattr(TableSettings(), key)
        ]
        if changed:
            raise DataError(
                f"{changed[0]}: only a CSV dataset takes this key; {source} is bundled, with "
                "its own labels and numeric features"
            )
        return DATASETS[source].load()
    if is_table_path(source):
        return load_table_dataset(source, settings)
    known = ", ".join(DATASETS)
    raise DataError(
        f"unknown dataset {source!r}; choose one of {known}, or a path to a .csv, .tsv or .txt file"
    )
