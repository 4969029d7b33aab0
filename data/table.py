"""Reading a delimited text file (CSV, TSV, TXT) into named columns, numeric or text.

The file's bytes are read once: they are hashed (so a run can record exactly what it read),
scanned with NumPy for the record structure (which line each row starts on, and how many
fields it has), then parsed into columns by pandas' C reader when pandas is installed (the
`tabular` extra), else by the `csv` module's C reader with NumPy converting whole columns.
Both give the same table for any file the `csv` module writes (tests/test_table.py checks
it); pandas is about 10x faster on a 100,000 x 30 file (benchmarks/tabular.py), because
NumPy's text-to-float conversion calls Python's float() per cell.

Every problem is a one-line `DataError` naming the file as given and, where there is one, the
line (as an editor numbers it: the header, if any, is line 1), the column and the value.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import os
import warnings
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from data.errors import DataError

# The cells that mean "no value" (compared after stripping spaces), as pandas' `na_values`
# would be told. "NaN" and "nan" are here, so a numeric column's NaN always means missing.
MISSING_MARKERS: tuple[str, ...] = ("", "NA", "N/A", "NaN", "nan", "null", "?")

# The delimiters `delimiter="auto"` chooses among, in the order ties are settled.
DELIMITERS: tuple[str, ...] = (",", ";", "\t", "|")

_SNIFF_LINES = 20  # lines read to detect the delimiter...
_SNIFF_BYTES = 1 << 16  # ...at most from this many bytes
_ENGINES = ("auto", "pandas", "csv")


@dataclass(frozen=True)
class Column:
    """One column: numbers, or text stored as its distinct values and a code per row.

    Text is kept as codes (as pandas' Categorical does) because a column of categories has
    few distinct values: sorting and matching those is cheaper than sorting every cell.
    """

    name: str
    values: np.ndarray  # (n_rows,) float64 (NaN where missing), or int64 codes into `levels`
    missing: np.ndarray  # (n_rows,) bool: the cell was one of MISSING_MARKERS
    levels: np.ndarray | None = None  # text: the distinct stripped cells, sorted ('U')

    @property
    def is_numeric(self) -> bool:
        """Every cell that is not missing is a number."""
        return self.levels is None

    def text(self) -> np.ndarray:
        """Each cell as stripped text ('U'), "" where missing; numbers as `repr` writes them."""
        if self.levels is None:
            return np.where(self.missing, "", self.values.astype(str))
        if len(self.levels) == 0:
            return np.full(len(self.values), "")
        return np.where(self.missing, "", self.levels[np.maximum(self.values, 0)])


@dataclass(frozen=True)
class Table:
    """The rows of a delimited file as named columns, with where each row came from."""

    source: str  # the path as given, for messages
    path: str  # absolute path
    columns: tuple[Column, ...]
    lines: np.ndarray  # (n_rows,) int64: the line each row starts on
    delimiter: str
    header: bool
    size: int  # bytes in the file
    sha256: str  # hex digest of the file's bytes

    @property
    def names(self) -> tuple[str, ...]:
        """Column names, in file order."""
        return tuple(column.name for column in self.columns)

    @property
    def n_rows(self) -> int:
        """Data rows (the header and blank lines are not rows)."""
        return len(self.lines)

    def column(self, name: str) -> Column:
        """The column called `name`; a DataError listing the columns if there is none."""
        for column in self.columns:
            if column.name == name:
                return column
        shown = ", ".join(map(_shown, self.names))
        raise DataError(f"{self.source}: no column {name!r}; columns: {shown}")

    def take(self, rows: np.ndarray) -> Table:
        """The table restricted to `rows` (indices or a boolean mask), lines kept."""
        columns = tuple(replace(c, values=c.values[rows], missing=c.missing[rows]) for c in self)
        return replace(self, columns=columns, lines=self.lines[rows])

    def record(self) -> dict[str, object]:
        """What a run records about the file it read."""
        return {"kind": "csv", "path": self.path, "size": self.size, "sha256": self.sha256}

    def __iter__(self) -> Iterator[Column]:
        """The columns, in file order."""
        return iter(self.columns)


def read_table(
    path: str | os.PathLike[str],
    *,
    delimiter: str = "auto",
    header: bool = True,
    engine: str = "auto",
) -> Table:
    """Read `path` into a Table.

    `delimiter` is one character, or "auto" to detect one of DELIMITERS from the first lines.
    With `header` the first record names the columns (it may not be made only of numbers:
    that is a headerless file); without, they are named col1..colN. Accepted: quoted fields
    (RFC 4180: a delimiter or line break inside quotes, a quote doubled), a UTF-8 byte-order
    mark, CRLF line ends, spaces around fields; blank lines are skipped. A row with another
    number of fields than the first is refused naming its line. A cell is missing when,
    stripped, it is one of MISSING_MARKERS; a column is numeric when every other cell is a
    number. `engine` picks the parser ("pandas", "csv", or "auto": pandas when installed);
    the table is the same (the csv module refuses a few malformed files pandas reads).
    """
    source = str(path)
    raw = _read_bytes(source)
    size, sha256 = len(raw), hashlib.sha256(raw).hexdigest()
    body = raw.removeprefix(codecs.BOM_UTF8)  # spreadsheet programs often write one
    if not body or body.isspace():
        raise DataError(f"{source}: the file is empty")
    head = body[:_SNIFF_BYTES].decode("utf-8", errors="replace")  # checked in full below
    delimiter = _delimiter(source, head, len(body) > _SNIFF_BYTES, delimiter)
    starts, stops, lines, fields = _records(source, body, delimiter)
    if len(lines) == 0:
        raise DataError(f"{source}: the file is empty")
    first = _first_record(source, _decode(source, body[starts[0] : stops[0]]), delimiter)
    if header:
        names = _header_names(source, int(lines[0]), first)
    else:
        names = [f"col{i}" for i in range(1, len(first) + 1)]
    n = len(names)
    ragged = np.flatnonzero(fields != n)
    if len(ragged):
        at = ragged[0]
        raise DataError(
            f"{source}: line {lines[at]} has {fields[at]} fields, line {lines[0]} has {n} "
            f"(delimiter {delimiter!r})"
        )
    if header:
        lines = lines[1:]
    if len(lines) == 0:
        raise DataError(f"{source}: has a header but no data rows")
    data = body[int(starts[1]) if header else int(starts[0]) :]
    if _engine(engine) == "pandas":
        try:
            columns = _columns_pandas(source, data, delimiter, names)
        except UnicodeDecodeError:
            _decode(source, body)  # raises, naming the line
            raise
    else:
        _decode(source, body)  # a DataError naming the line of a byte that is not UTF-8
        first_line = int(lines[0])
        columns = _columns_csv(source, data.decode("utf-8"), delimiter, names, first_line)
    if any(len(cells[0]) != len(lines) for cells in columns):  # the two scans disagree
        raise DataError(f"{source}: malformed CSV (a quote is never closed or misplaced)")
    return Table(
        source=source,
        path=str(Path(source).resolve()),
        columns=tuple(_column(source, name, cells, lines) for name, cells in zip(names, columns)),
        lines=lines,
        delimiter=delimiter,
        header=header,
        size=size,
        sha256=sha256,
    )


# -- the bytes --------------------------------------------------------------------------------


def _read_bytes(source: str) -> bytes:
    path = Path(source)
    if not path.exists():
        raise DataError(f"{source}: no such file")
    if path.is_dir():
        raise DataError(f"{source}: is a directory, not a CSV file")
    try:
        return path.read_bytes()
    except OSError as err:
        raise DataError(f"{source}: cannot be read ({err.strerror})") from None


def _decode(source: str, body: bytes) -> str:
    """`body` as UTF-8 text; a DataError naming the line of the first byte that is not."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as err:
        line = body.count(b"\n", 0, err.start) + 1
        raise DataError(
            f"{source}: line {line}: not UTF-8 text (byte 0x{body[err.start]:02x}); "
            "save it as UTF-8"
        ) from None


def _shown(text: str) -> str:
    """`text` as is, or quoted when it holds a line break or other control character."""
    return text if text.isprintable() else repr(text)


# -- structure ----------------------------------------------------------------------------------


def _delimiter(source: str, head: str, cut: bool, delimiter: str) -> str:
    """The given delimiter, checked, or the one of DELIMITERS that splits the first lines alike."""
    if delimiter != "auto":
        if len(delimiter) != 1 or delimiter in '"\r\n' or delimiter.isalnum():
            raise DataError(
                f"{source}: delimiter {delimiter!r} must be one character other than a quote, "
                "a letter or a digit, or 'auto'"
            )
        return delimiter
    lines = head.splitlines()
    if cut and len(lines) > 1:
        lines.pop()  # may be cut short
    sample = "\n".join(line for line in lines[: _SNIFF_LINES + 1] if line.strip())
    best, best_score = None, (0, 1)
    for candidate in DELIMITERS:
        # not strict: a quoted field may run past the sample
        rows = list(csv.reader(io.StringIO(sample), delimiter=candidate))[:_SNIFF_LINES]
        counts = Counter(len(row) for row in rows)
        if not counts:
            continue
        fields, agree = counts.most_common(1)[0]
        # the most lines split alike, then the most fields; a ragged line is named later
        if fields > 1 and (agree, fields) > best_score:
            best, best_score = candidate, (agree, fields)
    if best is None:
        shown = " ".join(repr(d) for d in DELIMITERS)
        raise DataError(
            f"{source}: cannot tell the delimiter (none of {shown} splits the first lines "
            "into columns); save the file with one of them between the columns"
        )
    return best


def _records(source: str, body: bytes, delimiter: str) -> tuple[np.ndarray, ...]:
    """(start, stop, line, field count) of each non-blank record, found with NumPy.

    A newline or delimiter inside quotes is one with an odd number of quote characters
    before it: a doubled quote inside a quoted field adds two. A blank record is one with
    only spaces, as both readers skip such lines. Start and stop are byte offsets.
    """
    b = np.frombuffer(body, dtype=np.uint8)
    newlines = np.flatnonzero(b == ord("\n"))
    delims = np.flatnonzero(b == ord(delimiter))
    quotes = np.flatnonzero(b == ord('"'))
    if len(quotes) % 2:
        line = int(np.count_nonzero(newlines < quotes[-1])) + 1
        raise DataError(f"{source}: line {line}: malformed CSV (a quote is never closed)")
    ends = newlines
    if len(quotes):
        ends = newlines[np.searchsorted(quotes, newlines) % 2 == 0]
        delims = delims[np.searchsorted(quotes, delims) % 2 == 0]
    starts = np.concatenate([[0], ends + 1])
    stops = np.append(ends, len(b))
    # delimiters before each record's stop, less those before the previous record's stop
    fields = np.diff(np.searchsorted(delims, stops), prepend=0) + 1
    lines = np.searchsorted(newlines, starts) + 1  # newlines before the start, plus one
    keep = np.ones(len(starts), dtype=bool)
    keep[(fields == 1) & (starts == stops)] = False  # empty lines, and the end after the last
    one = np.flatnonzero((fields == 1) & (starts < stops))  # blank, or no delimiter
    if len(one):
        # a record is blank when no byte in it is other than a space: whole arrays, so a
        # file of a million blank lines costs no Python loop
        solid = np.append(~np.isin(b, np.frombuffer(b" \t\r\v\f", dtype=np.uint8)), False)
        # reduced over [start, stop), [stop, next start), ...: every other one is a record
        bounds = np.stack([starts[one], stops[one]], axis=1).ravel()
        some = np.logical_or.reduceat(solid, bounds)[::2]
        keep[one] = some
    return starts[keep], stops[keep], lines[keep].astype(np.int64), fields[keep]


def _first_record(source: str, text: str, delimiter: str) -> list[str]:
    """The fields of the first record (its text), stripped."""
    reader = csv.reader(
        io.StringIO(text, newline=""), delimiter=delimiter, strict=True, skipinitialspace=True
    )
    try:
        for fields in reader:
            if any(field.strip() for field in fields):
                return [field.strip() for field in fields]
    except csv.Error as err:
        raise DataError(f"{source}: line {reader.line_num}: malformed CSV ({err})") from None
    raise DataError(f"{source}: the file is empty")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _header_names(source: str, line: int, first: list[str]) -> list[str]:
    """The column names of the first record: present, distinct, and not all numbers."""
    if all(_is_number(name) for name in first):
        raise DataError(
            f"{source}: line {line} is all numbers ({', '.join(first[:3])}...), not column names; "
            "if the file has no header, set data.header: false"
        )
    for position, name in enumerate(first, start=1):
        if not name:
            raise DataError(f"{source}: line {line}: column {position} has no name")
    seen: set[str] = set()
    for name in first:
        if name in seen:
            raise DataError(f"{source}: line {line}: duplicate column name {name!r}")
        seen.add(name)
    return first


# -- the cells ----------------------------------------------------------------------------------

# (values, missing, levels): numbers (levels None), or codes into sorted distinct texts
Cells = tuple[np.ndarray, np.ndarray, "np.ndarray | None"]


def _engine(engine: str) -> str:
    if engine not in _ENGINES:
        raise ValueError(f"engine {engine!r}: expected one of {', '.join(_ENGINES)}")
    if engine != "auto":
        return engine
    try:
        import pandas  # noqa: F401  (slow import: only when a file is read)
    except ImportError:
        return "csv"
    return "pandas"


def _from_text(levels: np.ndarray, codes: np.ndarray) -> Cells:
    """Cells given as distinct texts and a code per row (-1: missing), stripped and rechecked.

    Only the distinct texts are stripped, compared with MISSING_MARKERS and tried as numbers
    (with NumPy's whole-array conversion), so the work grows with the categories, not rows.
    """
    levels = np.strings.strip(np.asarray(levels, dtype=str))
    marker = np.isin(levels, MISSING_MARKERS)
    missing = codes < 0
    if len(levels):
        missing |= marker[np.maximum(codes, 0)]
    distinct, renumber = np.unique(levels[~marker], return_inverse=True)
    new_codes = np.full(len(levels), -1, dtype=np.int64)
    new_codes[~marker] = renumber
    codes = np.where(missing, -1, new_codes[np.maximum(codes, 0)] if len(levels) else -1)
    numbers = _as_numbers(distinct)
    if numbers is not None:
        values = numbers[np.maximum(codes, 0)] if len(distinct) else np.zeros(len(codes))
        return np.where(missing, np.nan, values), missing, None
    return codes.astype(np.int64), missing, distinct


def _as_numbers(text: np.ndarray) -> np.ndarray | None:
    """`text` ('U') as float64 if every element is a number, else None."""
    # "1_000" is a number to Python's float() but not to pandas: text for both readers
    if np.any(np.strings.find(text, "_") >= 0):
        return None
    try:
        return text.astype(np.float64)  # NumPy converts the whole array in one call
    except ValueError:
        return None


def _columns_pandas(source: str, data: bytes, delimiter: str, names: list[str]) -> list[Cells]:
    import pandas as pd  # slow import: only when a file is read

    def read(**kwargs):
        with warnings.catch_warnings():
            # a column typed differently in two chunks comes back mixed: it is reread below
            warnings.simplefilter("ignore", pd.errors.DtypeWarning)
            return pd.read_csv(
                io.BytesIO(data),
                sep=delimiter,
                header=None,
                names=names,
                quotechar='"',
                # needed only so that `a, "b"` is quoted; it costs a third more time
                skipinitialspace=b'"' in data,
                na_values=list(MISSING_MARKERS),
                keep_default_na=False,
                encoding="utf-8",
                **kwargs,
            )

    try:
        frame = read()
    except pd.errors.ParserError as err:  # the record scan found no fault, pandas did
        why = str(err).strip().splitlines()[-1]
        raise DataError(f"{source}: malformed CSV ({why})") from None
    columns: list[Cells] = []
    for name in names:
        series = frame[name]
        if series.dtype.kind in "iuf":
            values = series.to_numpy(dtype=np.float64, na_value=np.nan)
            columns.append((values, np.isnan(values), None))
            continue
        if not pd.api.types.is_string_dtype(series):
            # words such as True/False read as booleans, or a column typed differently in
            # two chunks: read its text as written
            series = read(usecols=[name], dtype=str)[name]
        codes, levels = pd.factorize(series, sort=True)  # NaN (missing) is code -1
        columns.append(_from_text(np.asarray(levels, dtype=str), codes))
    return columns


def _columns_csv(
    source: str, text: str, delimiter: str, names: list[str], first_line: int
) -> list[Cells]:
    reader = csv.reader(
        io.StringIO(text, newline=""), delimiter=delimiter, strict=True, skipinitialspace=True
    )
    try:
        # blank lines are skipped, as the record scan and pandas skip them; `,,` is a row
        rows = [row for row in reader if len(row) > 1 or (row and row[0].strip())]
    except csv.Error as err:
        line = first_line + reader.line_num - 1
        raise DataError(f"{source}: line {line}: malformed CSV ({err})") from None
    columns: list[Cells] = []
    for cells in zip(*rows):
        text = np.strings.strip(np.array(cells, dtype=str))
        missing = np.isin(text, MISSING_MARKERS)
        numbers = _as_numbers(np.where(missing, "nan", text))
        if numbers is not None:  # most columns: no need to sort the cells
            columns.append((np.where(missing, np.nan, numbers), missing, None))
            continue
        levels, codes = np.unique(text, return_inverse=True)
        columns.append(_from_text(levels, codes.astype(np.int64)))
    return columns


def _column(source: str, name: str, cells: Cells, lines: np.ndarray) -> Column:
    """A Column, refusing numbers that are not finite (`inf`, `1e999`)."""
    values, missing, levels = cells
    if levels is None:
        bad = np.flatnonzero(~np.isfinite(values) & ~missing)
        if len(bad):
            at = bad[0]
            raise DataError(
                f"{source}: line {lines[at]}, column {name!r}: {values[at]} is not finite"
            )
    return Column(name=name, values=values, missing=missing, levels=levels)
