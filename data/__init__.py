"""Datasets for `mlp`: scikit-learn's bundled sets and CSV files, split and standardised.

scikit-learn is imported only inside the functions that need it, so commands that do not
touch data (`mlp --help`, `mlp datasets`) start fast.
"""

from data.csvfile import load_csv, load_features, load_labels
from data.dataset import Dataset
from data.errors import DataError
from data.prepare import (
    SplitIndices,
    Splits,
    fit_standardizer,
    split_dataset,
    split_indices,
    standardize,
)
from data.registry import DATASETS, DatasetInfo, load_dataset

__all__ = [
    "DATASETS",
    "DataError",
    "Dataset",
    "DatasetInfo",
    "SplitIndices",
    "Splits",
    "fit_standardizer",
    "load_csv",
    "load_dataset",
    "load_features",
    "load_labels",
    "split_dataset",
    "split_indices",
    "standardize",
]
