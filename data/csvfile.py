"""Reading a labelled CSV file: a header row, numeric feature columns, one label column.

Every problem is a `DataError` naming the file as it was given and, where there is one, the
line (as an editor numbers it, the header being line 1), the column and the value.
"""

from __future__ import annotations

import codecs
import csv
import io
import math
import os
import re
from collections import Counter
from pathlib import Path

import numpy as np

from data.dataset import Dataset
from data.digest import bytes_record
from data.errors import DataError

Row = tuple[int, list[str]]  # (line the record starts on, its fields)

# Stricter than int() and float(), which also take "1_000" and non-ASCII digits: two labels
# that read differently should only become one class when they are plainly the same number.
_INTEGER = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")


def _read_bytes(name: str) -> bytes:
    """The file's content, read once: what is parsed is also what its record's hash covers."""
    path = Path(name)
    if not path.exists():
        raise DataError(f"{name}: no such file")
    if path.is_dir():
        raise DataError(f"{name}: is a directory, not a CSV file")
    try:
        return path.read_bytes()
    except OSError as err:
        raise DataError(f"{name}: cannot be read ({err.strerror})") from None


def _parse_rows(name: str, raw: bytes) -> list[Row]:
    """Every record of `raw` that is not blank, the header included, with its first line."""
    # Spreadsheet programs often start a UTF-8 file with a byte-order mark.
    raw = raw.removeprefix(codecs.BOM_UTF8)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        bad = raw[err.start]
        raise DataError(
            f"{name}: line {line}: not UTF-8 text (byte 0x{bad:02x}); save it as UTF-8"
        ) from None
    rows: list[Row] = []
    # strict: an unclosed quote is an error, not a label that swallows the rest of the file
    reader = csv.reader(io.StringIO(text, newline=""), strict=True, skipinitialspace=True)
    start = 1
    try:
        for fields in reader:
            if any(field.strip() for field in fields):
                rows.append((start, fields))
            start = reader.line_num + 1  # a quoted field may span lines
    except csv.Error as err:
        why = "a quote is never closed" if "end of data" in str(err) else err
        raise DataError(f"{name}: line {start}: malformed CSV ({why})") from None
    return rows


def _read_rows(name: str) -> list[Row]:
    """Every record of the file that is not blank, the header included, with its first line."""
    return _parse_rows(name, _read_bytes(name))


def _shown(text: str) -> str:
    """`text` as is, or quoted when it holds a line break or other control character."""
    return text if text.isprintable() else repr(text)


def _header(name: str, rows: list[Row]) -> list[str]:
    """The column names: present, and each non-empty and distinct."""
    if not rows:
        raise DataError(f"{name}: the file is empty")
    header = [column.strip() for column in rows[0][1]]
    for position, column in enumerate(header, start=1):
        if not column:
            raise DataError(f"{name}: line 1: column {position} has no name")
    duplicates = sorted(column for column, count in Counter(header).items() if count > 1)
    if duplicates:
        raise DataError(f"{name}: line 1: duplicate column name {duplicates[0]!r}")
    return header


def _data_rows(name: str, rows: list[Row], header: list[str]) -> list[Row]:
    """The records after the header, each checked to have one field per column."""
    if len(rows) < 2:
        raise DataError(f"{name}: has a header but no data rows")
    for line, fields in rows[1:]:
        if len(fields) != len(header):
            raise DataError(
                f"{name}: line {line} has {len(fields)} fields, the header has {len(header)}"
            )
    return rows[1:]


def _number(name: str, line: int, column: str, text: str) -> float:
    text = text.strip()
    where = f"{name}: line {line}, column {column!r}"
    if not text:
        raise DataError(f"{where}: empty, expected a number")
    try:
        value = float(text)
    except ValueError:
        raise DataError(f"{where}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise DataError(f"{where}: {text} is not finite")
    return value


def _features(name: str, rows: list[Row], header: list[str], columns: list[int]) -> np.ndarray:
    """The float64 matrix of `columns` (positions in `header`) over the data rows."""
    X = np.empty((len(rows), len(columns)))
    for r, (line, fields) in enumerate(rows):
        for c, i in enumerate(columns):
            X[r, c] = _number(name, line, header[i], fields[i])
    return X


def _typed_labels(labels: list[str]) -> np.ndarray:
    """The labels as int64 if all are integers, else float64 if all are numbers, else text."""
    if all(map(_INTEGER.fullmatch, labels)):
        try:
            return np.array([int(label) for label in labels], dtype=np.int64)
        except OverflowError:  # beyond int64: as text, where as floats big ones could merge
            return np.array(labels, dtype=str)
    if all(map(_DECIMAL.fullmatch, labels)):
        values = np.array([float(label) for label in labels])
        if np.isfinite(values).all():  # "1e999" overflows to inf: as text
            return values
    return np.array(labels, dtype=str)


def load_csv(path: str | os.PathLike[str], target: str | None = None) -> Dataset:
    """Read `path`: features from every column but the label column (`target`, default last).

    Labels become class indices in sorted order: as integers if every label is one (so "10"
    comes after "9"), else as floats if every label is a number, else as text. The file is
    read once; the dataset's `record` holds the SHA-256 of the very bytes that were parsed.
    """
    name = str(path)
    raw = _read_bytes(name)
    rows = _parse_rows(name, raw)
    header = _header(name, rows)
    if len(header) < 2:
        raise DataError(f"{name}: needs at least one feature column and a label column")
    rows = _data_rows(name, rows, header)
    if target is None:
        label_at = len(header) - 1
    elif target in header:
        label_at = header.index(target)
    else:
        columns = ", ".join(map(_shown, header))
        raise DataError(f"{name}: no column {target!r} for target; columns: {columns}")
    label_column = header[label_at]
    feature_columns = [i for i in range(len(header)) if i != label_at]
    X = _features(name, rows, header, feature_columns)
    labels = []
    for line, fields in rows:
        label = fields[label_at].strip()
        if not label:
            raise DataError(f"{name}: line {line}: empty label in column {label_column!r}")
        labels.append(label)
    if len(labels) < 2:
        raise DataError(f"{name}: needs at least 2 samples, found {len(labels)}")
    classes, y = np.unique(_typed_labels(labels), return_inverse=True)
    if len(classes) < 2:
        raise DataError(
            f"{name}: only one class {classes.tolist()[0]!r} in column {label_column!r}; "
            "a classifier needs at least 2"
        )
    return Dataset(
        name=name,
        X=X,
        y=y.astype(np.int64),
        classes=classes,
        feature_names=tuple(header[i] for i in feature_columns),
        record=bytes_record(name, raw),
    )


def load_features(
    path: str | os.PathLike[str], feature_names: tuple[str, ...] | None, n_features: int
) -> np.ndarray:
    """The feature matrix of a CSV file to predict on, its columns matched to a model's.

    With `feature_names` the columns are found by name (in any order; other columns, such as
    an id or the label, are left out); without, the file must hold exactly `n_features`
    columns, taken in order.
    """
    name = str(path)
    rows = _read_rows(name)
    header = _header(name, rows)
    if feature_names is None:
        if len(header) != n_features:
            raise DataError(f"{name}: has {len(header)} columns, the model expects {n_features}")
        columns = list(range(n_features))
    else:
        missing = [column for column in feature_names if column not in header]
        if missing:
            shown = ", ".join(repr(column) for column in missing[:5])
            more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            raise DataError(f"{name}: missing the model's feature column(s) {shown}{more}")
        columns = [header.index(column) for column in feature_names]
    return _features(name, _data_rows(name, rows, header), header, columns)


def load_labels(path: str | os.PathLike[str], target: str | None) -> tuple[str, list[str]]:
    """(column name, label of every data row as text) of the label column `target` (default:
    the last column), for scoring a labelled file against a model's classes."""
    name = str(path)
    rows = _read_rows(name)
    header = _header(name, rows)
    if target is not None and target not in header:
        columns = ", ".join(map(_shown, header))
        raise DataError(f"{name}: no column {target!r} for target; columns: {columns}")
    at = len(header) - 1 if target is None else header.index(target)
    labels = []
    for line, fields in _data_rows(name, rows, header):
        label = fields[at].strip()
        if not label:
            raise DataError(f"{name}: line {line}: empty label in column {header[at]!r}")
        labels.append(label)
    return header[at], labels
