"""Datasets for `mlp`: scikit-learn's bundled sets and CSV files, split and standardised.

scikit-learn is imported only to load a bundled set the cache does not hold, so commands that
do not touch data (`mlp --help`, `mlp datasets`), and every split, never import it.
"""

from data.csvfile import load_csv, load_features, load_labels
from data.dataset import Dataset
from data.digest import file_record
from data.errors import DataError
from data.prepare import SplitIndices, fit_standardizer, split_indices, standardize
from data.registry import DATASETS, DatasetInfo, load_dataset

__all__ = [
    "DATASETS",
    "DataError",
    "Dataset",
    "DatasetInfo",
    "SplitIndices",
    "file_record",
    "fit_standardizer",
    "load_csv",
    "load_dataset",
    "load_features",
    "load_labels",
    "split_indices",
    "standardize",
]
