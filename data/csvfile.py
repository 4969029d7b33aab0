"""Reading a labelled CSV file: a header row, numeric feature columns, one label column.

Every problem is a `DataError` naming the file and, where there is one, the line (as an editor
numbers it, the header being line 1), the column and the value.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from data.errors import DataError
from data.registry import Dataset


def _read_rows(path: Path) -> list[tuple[int, list[str]]]:
    """(line number, fields) of every non-blank row, the header included."""
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if path.is_dir():
        raise DataError(f"{path}: is a directory, not a CSV file")
    try:
        with path.open(newline="", encoding="utf-8-sig") as file:
            reader = csv.reader(file)
            return [(reader.line_num, row) for row in reader if any(f.strip() for f in row)]
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not UTF-8 text (byte {err.start}); save it as UTF-8") from None
    except csv.Error as err:
        raise DataError(f"{path}: malformed CSV ({err})") from None
    except OSError as err:
        raise DataError(f"{path}: cannot be read ({err.strerror})") from None


def _label_column(path: Path, header: list[str], target: str | None) -> int:
    if target is None:
        return len(header) - 1
    if target not in header:
        raise DataError(f"{path}: no column {target!r} for target; columns: {', '.join(header)}")
    return header.index(target)


def _check_header(path: Path, header: list[str]) -> list[str]:
    header = [name.strip() for name in header]
    for position, name in enumerate(header, start=1):
        if not name:
            raise DataError(f"{path}: line 1: column {position} has no name")
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise DataError(f"{path}: line 1: duplicate column name {duplicates[0]!r}")
    if len(header) < 2:
        raise DataError(f"{path}: needs at least one feature column and a label column")
    return header


def _parse_number(path: Path, line: int, column: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise DataError(
            f"{path}: line {line}, column {column!r}: {text.strip()!r} is not a number"
        ) from None
    if not math.isfinite(value):
        raise DataError(f"{path}: line {line}, column {column!r}: {text.strip()} is not finite")
    return value


def _parse_columns(
    path: Path, header: list[str], rows: list[tuple[int, list[str]]], columns: list[int]
) -> np.ndarray:
    """The given columns of the data rows as a float64 matrix; every row must be complete."""
    X = np.empty((len(rows), len(columns)))
    for r, (line, fields) in enumerate(rows):
        if len(fields) != len(header):
            raise DataError(
                f"{path}: line {line} has {len(fields)} fields, the header has {len(header)}"
            )
        for c, i in enumerate(columns):
            X[r, c] = _parse_number(path, line, header[i], fields[i])
    return X


def _encode_labels(labels: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct labels (as integers, floats or strings) and each row's class index."""
    for kind in (int, float):
        try:
            values = [kind(label) for label in labels]
        except ValueError:
            continue
        if kind is float and not all(map(math.isfinite, values)):
            break  # "nan" or "inf" as a label: keep the labels as text
        classes, y = np.unique(np.array(values), return_inverse=True)
        return classes, y.astype(np.int64)
    classes, y = np.unique(np.array(labels, dtype=str), return_inverse=True)
    return classes, y.astype(np.int64)


def load_csv(path: Path, target: str | None = None) -> Dataset:
    """Read `path`: features from every column but the label column (`target`, default last)."""
    rows = _read_rows(path)
    if not rows:
        raise DataError(f"{path}: the file is empty")
    _, header = rows[0]
    header = _check_header(path, header)
    if len(rows) < 2:
        raise DataError(f"{path}: has a header but no data rows")
    label_at = _label_column(path, header, target)
    feature_columns = [i for i in range(len(header)) if i != label_at]
    X = _parse_columns(path, header, rows[1:], feature_columns)
    labels = []
    for line, fields in rows[1:]:
        label = fields[label_at].strip()
        if not label:
            raise DataError(f"{path}: line {line}: empty label in column {header[label_at]!r}")
        labels.append(label)
    if len(labels) < 2:
        raise DataError(f"{path}: needs at least 2 samples, found {len(labels)}")
    classes, y = _encode_labels(labels)
    if len(classes) < 2:
        raise DataError(
            f"{path}: only one class ({classes[0]!r}) in column {header[label_at]!r}; "
            "a classifier needs at least 2"
        )
    return Dataset(
        name=str(path),
        X=X,
        y=y,
        classes=classes,
        feature_names=tuple(header[i] for i in feature_columns),
    )


def load_features(path: Path, feature_names: tuple[str, ...] | None, n_features: int) -> np.ndarray:
    """The feature matrix of a CSV file to predict on, its columns matched to a model's.

    With `feature_names` the columns are found by name (in any order; other columns, such as
    an id or the label, are left out); without, the file must hold exactly `n_features`
    columns, taken in order.
    """
    rows = _read_rows(path)
    if not rows:
        raise DataError(f"{path}: the file is empty")
    header = [name.strip() for name in rows[0][1]]
    if feature_names is None:
        if len(header) != n_features:
            raise DataError(f"{path}: has {len(header)} columns, the model expects {n_features}")
        columns = list(range(n_features))
    else:
        missing = [name for name in feature_names if name not in header]
        if missing:
            shown = ", ".join(repr(name) for name in missing[:5])
            more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            raise DataError(f"{path}: missing the model's feature column(s) {shown}{more}")
        columns = [header.index(name) for name in feature_names]
    if len(rows) < 2:
        raise DataError(f"{path}: has a header but no data rows")
    return _parse_columns(path, header, rows[1:], columns)
