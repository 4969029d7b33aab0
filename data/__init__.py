"""Datasets for `mlp`: scikit-learn's bundled sets and CSV files, split and standardised.

scikit-learn is imported only inside the functions that need it, so commands that do not
touch data (`mlp --help`, `mlp datasets`) start fast.
"""

from data.csvfile import load_csv, load_features
from data.dataset import Dataset
from data.errors import DataError
from data.prepare import Splits, fit_standardizer, split_dataset, standardize
from data.registry import DATASETS, DatasetInfo, load_dataset

__all__ = [
    "DATASETS",
    "DataError",
    "Dataset",
    "DatasetInfo",
    "Splits",
    "fit_standardizer",
    "load_csv",
    "load_dataset",
    "load_features",
    "split_dataset",
    "standardize",
]
