"""Datasets for `mlp`: scikit-learn's bundled sets and CSV files, split and standardised.

scikit-learn is imported only to load a bundled set the cache does not hold, so commands that
do not touch data (`mlp --help`, `mlp datasets`), and every split, never import it.
"""

from data.dataset import Dataset
from data.digest import file_record
from data.encoding import Preprocessor, encode_labels
from data.errors import DataError
from data.prepare import (
    SplitIndices,
    fit_standardizer,
    plain_folds,
    split_indices,
    standardize,
    stratified_folds,
)
from data.registry import DATASETS, DatasetInfo, load_dataset
from data.tabular import (
    TableSettings,
    is_table_path,
    load_table_dataset,
    numeric_columns,
    read_rows,
)

__all__ = [
    "DATASETS",
    "DataError",
    "Dataset",
    "DatasetInfo",
    "Preprocessor",
    "SplitIndices",
    "TableSettings",
    "encode_labels",
    "file_record",
    "fit_standardizer",
    "is_table_path",
    "load_dataset",
    "load_table_dataset",
    "numeric_columns",
    "plain_folds",
    "read_rows",
    "split_indices",
    "standardize",
    "stratified_folds",
]
