"""A CSV, TSV or text file as a dataset: its columns read (data/table.py), their roles chosen,
its labels encoded (data/encoding.py). The features are encoded later, by a Preprocessor fitted
on the training rows only, once the split is known."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from data.dataset import Dataset
from data.encoding import (
    MAX_CATEGORIES,
    choose_columns,
    comma_text_reason,
    encode_labels,
    refuse_missing,
)
from data.errors import DataError
from data.table import Table, read_table
from data.targets import AUTO, decide_task, encode_targets, first_non_number

TABLE_SUFFIXES = (".csv", ".tsv", ".txt")


@dataclass(frozen=True)
class TableSettings:
    """How to read a table and what its columns are: the config's `data` keys."""

    # the label column, or a regression's target column(s); None: the last column
    target: str | tuple[str, ...] | list[str] | None = None
    drop: tuple[str, ...] = ()
    id: str | None = None
    categorical: str | tuple[str, ...] = "auto"
    missing: str = "error"
    delimiter: str = "auto"
    header: bool = True
    decimal: str = "auto"
    max_categories: int = MAX_CATEGORIES
    task: str = AUTO  # the config's top-level `task` (data/targets.py decides `auto`)


def is_table_path(source: str) -> bool:
    """Whether `source` names a file of rows: .csv, .tsv or .txt."""
    return source.lower().endswith(TABLE_SUFFIXES)


def load_table_dataset(path: str | os.PathLike[str], settings: TableSettings) -> Dataset:
    """The file as a dataset of labelled rows (a row whose label is missing is refused, or
    left out with `missing: impute`; a row whose regression target is missing is left out);
    its features stay raw columns until encoded."""
    table = read_rows(path, settings.delimiter, settings.header, settings.id, settings.decimal)
    task = decide_task(table, settings.task, settings.target)
    roles = choose_columns(
        table,
        target=settings.target,
        drop=settings.drop,
        id=settings.id,
        check_label=task != "regression",  # a regression's last column holds fractions
    )
    notes = roles.notes + tuple(
        comma_text_reason(name) for name in roles.features if name in table.comma_text
    )
    if task == "regression":
        targets = encode_targets(table, roles.target_columns)
        classes = np.asarray(roles.target_columns)  # output t <-> target column t
        rows, y, n_dropped = targets.kept, targets.y, targets.n_dropped
        if n_dropped:
            rows_text = "1 row" if n_dropped == 1 else f"{n_dropped} rows"
            notes += (f"{rows_text} without a target value left out",)
    else:
        labels = encode_labels(table, roles.target, missing=settings.missing)
        rows, y, classes, n_dropped = labels.kept, labels.y, labels.classes, labels.n_dropped
    kept = table.take(np.flatnonzero(rows))
    if settings.missing == "error":  # the whole file, before anything is split
        for name in roles.features:
            refuse_missing(kept, kept.column(name))
    if kept.n_rows < 2:
        raise DataError(f"{table.source}: needs at least 2 labelled rows, found {kept.n_rows}")
    return Dataset(
        name=str(path),
        X=None,
        y=y,
        classes=classes,
        feature_names=roles.features,
        record=table.record(),
        table=kept,
        roles=roles,
        n_dropped=n_dropped,
        notes=notes,
        task=task,
    )


def read_rows(
    path: str | os.PathLike[str],
    delimiter: str,
    header: bool,
    id: str | None = None,
    decimal: str = "auto",
) -> Table:
    """A file to train, score or predict on, read with the run's own settings; the `id`
    column is kept as the characters in the file (`001000025` stays so)."""
    return read_table(
        path, delimiter=delimiter, header=header, text=(id,) if id else (), decimal=decimal
    )


def numeric_columns(table: Table, names: tuple[str, ...]) -> np.ndarray:
    """The float64 matrix of the named columns, each of which must hold only numbers (a model
    trained on a bundled set takes its raw numeric features this way)."""
    absent = [name for name in names if not table.has(name)]
    if absent:
        shown = ", ".join(repr(name) for name in absent[:5])
        more = f" and {len(absent) - 5} more" if len(absent) > 5 else ""
        raise DataError(f"{table.source}: missing the model's feature column(s) {shown}{more}")
    X = np.empty((table.n_rows, len(names)))
    for j, name in enumerate(names):
        column = table.column(name)
        if not column.is_numeric or column.missing.any():
            bad = np.flatnonzero(column.missing)[:1] if column.is_numeric else None
            if bad is None:  # text: the first cell that is no number, shown as written
                row = first_non_number(column)
                bad = [0 if row is None else row]
            at = int(bad[0])
            cell = "an empty cell" if column.missing[at] else repr(str(column.text()[at]))
            raise DataError(
                f"{table.source}: line {table.lines[at]}, column {name!r}: {cell} is not a "
                "number; the model takes numbers in this column"
            )
        X[:, j] = column.values
    return X
