"""Reading a delimited text file (CSV, TSV, TXT) into named columns, numeric or text.

The file's bytes are read once: they are hashed (so a run can record exactly what it read),
scanned with NumPy for the record structure (which line each row starts on, and how many
fields it has), then parsed into columns by pandas' C reader (a required dependency, and the
only parser: the `csv` module with NumPy, the fallback kept until 0.2, took about 10x as long on
a 100,000 x 30 file, because NumPy's text-to-float conversion calls Python's float() per cell).

Every problem is a one-line `DataError` naming the file as given and, where there is one, the
line (as an editor numbers it: the header, if any, is line 1), the column and the value. Costs
are bounded before the work: a line or a row longer than MAX_LINE_BYTES is refused (a line as
soon as that much of it is read), and columns are looked up by name in a dict.
"""

from __future__ import annotations

import codecs
import csv
import functools
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

# The longest line (between two line breaks) a file may have. A line is parsed as a whole, at
# several times its size in memory, so one 1 GB line would take gigabytes: it is refused after
# reading this much of it. 100,000 columns of 100 characters each still fit.
MAX_LINE_BYTES = 16 << 20
_READ_CHUNK = 1 << 20

# The name a first column with an empty header cell takes: R's write.csv and pandas' to_csv
# put the row names (or the index) there, and R calls them row names.
ROWNAMES = "rownames"
# What `decimal` may be: "auto" takes decimal commas in a file not separated by commas.
DECIMALS: tuple[str, ...] = ("auto", ".", ",")


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
    rownames: str | None = None  # the column whose header cell was empty (row names), if any
    decimal: str = "."  # the decimal mark of the numbers read: "," when commas were taken
    # text columns that would be numbers if their commas were decimal marks
    comma_text: tuple[str, ...] = ()

    @functools.cached_property
    def names(self) -> tuple[str, ...]:
        """Column names, in file order."""
        return tuple(column.name for column in self.columns)

    @functools.cached_property
    def _index(self) -> dict[str, int]:
        # one dict, so that looking up each of 100,000 columns is not quadratic
        return {column.name: i for i, column in enumerate(self.columns)}

    def has(self, name: str) -> bool:
        """Whether a column is called `name` (in constant time)."""
        return name in self._index

    @property
    def n_rows(self) -> int:
        """Data rows (the header and blank lines are not rows)."""
        return len(self.lines)

    def column(self, name: str) -> Column:
        """The column called `name`; a DataError listing the columns if there is none."""
        at = self._index.get(name)
        if at is not None:
            return self.columns[at]
        shown = ", ".join(map(_shown, self.names[:20]))
        more = f" and {len(self.names) - 20} more" if len(self.names) > 20 else ""
        raise DataError(f"{self.source}: no column {name!r}; columns: {shown}{more}")

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
    text: tuple[str, ...] | list[str] = (),
    decimal: str = "auto",
) -> Table:
    """Read `path` into a Table.

    `delimiter` is one character, or "auto" to detect one of DELIMITERS from the first lines.
    With `header` the first record names the columns (it may not be made only of numbers:
    that is a headerless file); without, they are named col1..colN. An empty first header
    cell names the row names that R's write.csv and pandas' to_csv write: that column is
    called ROWNAMES (recorded in `Table.rownames`) and read as text. Accepted: quoted fields
    (RFC 4180: a delimiter or line break inside quotes, a quote doubled), a UTF-8 byte-order
    mark, CRLF line ends, spaces around fields; blank lines are skipped. A row with another
    number of fields than the first is refused naming its line, as is the header row repeated
    as data, and a line longer than MAX_LINE_BYTES. A cell is missing when, stripped, it is
    one of MISSING_MARKERS; a column is numeric when every other cell is a number, unless it
    is named in `text` (ids: kept as the characters in the file). `decimal` is "." or ",",
    or "auto": commas are decimal marks in a column whose every cell is a number with them,
    when the file is not comma-separated.
    """
    source = str(path)
    if decimal not in DECIMALS:
        raise DataError(f"{source}: decimal {decimal!r} must be one of {', '.join(DECIMALS)}")
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
    _refuse_long_records(source, starts, stops, lines)
    first = _first_record(source, _decode(source, body[starts[0] : stops[0]]), delimiter)
    rownames = None
    if header:
        names, rownames = _header_names(source, int(lines[0]), first)
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
    as_text = {name for name in (*text, rownames) if name in names}
    try:
        columns = _columns_pandas(source, data, delimiter, names, as_text)
    except UnicodeDecodeError:
        _decode(source, body)  # raises, naming the line of a byte that is not UTF-8
        raise
    if any(len(cells[0]) != len(lines) for cells in columns):  # the two scans disagree
        raise DataError(f"{source}: malformed CSV (a quote is never closed or misplaced)")
    commas = decimal == "," or (decimal == "auto" and delimiter != ",")
    read = [
        (cells, "text") if name in as_text else _decimal_commas(cells, commas)
        for name, cells in zip(names, columns)
    ]
    table = Table(
        source=source,
        path=str(Path(source).resolve()),
        columns=tuple(_column(source, name, cells, lines) for name, (cells, _) in zip(names, read)),
        lines=lines,
        delimiter=delimiter,
        header=header,
        size=size,
        sha256=sha256,
        rownames=rownames,
        decimal="," if any(how == "comma" for _, how in read) else ".",
        comma_text=tuple(name for name, (_, how) in zip(names, read) if how == "comma-text"),
    )
    if header:
        _refuse_repeated_header(table)
    return table


def _refuse_long_records(
    source: str, starts: np.ndarray, stops: np.ndarray, lines: np.ndarray
) -> None:
    """A record (a row, whose quoted cells may hold line breaks) is held to the limit of a
    line too, so that no cell is longer than MAX_LINE_BYTES however it is split."""
    lengths = stops - starts
    if len(lengths) and lengths.max() > MAX_LINE_BYTES:
        at = int(np.argmax(lengths > MAX_LINE_BYTES))
        raise DataError(
            f"{source}: the row starting on line {lines[at]} is longer than "
            f"{MAX_LINE_BYTES >> 20} MiB, the most a row may hold"
        )


def _refuse_repeated_header(table: Table) -> None:
    """A data row that is the header again (files joined with `cat`) is refused by its line:
    read as data, it would add a class named after the label column."""
    rows = np.ones(table.n_rows, dtype=bool)
    for column in table.columns:
        if column.name == table.rownames:
            rows &= column.missing  # the header's cell there is empty
        elif column.is_numeric:
            return  # a number cannot be a column's name
        else:
            at = np.searchsorted(column.levels, column.name)
            if at == len(column.levels) or column.levels[at] != column.name:
                return
            rows &= column.values == at
        if not rows.any():
            return
    line = table.lines[np.argmax(rows)]
    raise DataError(
        f"{table.source}: line {line} repeats the header row; remove it (files joined "
        "together keep each one's header)"
    )


# -- the bytes --------------------------------------------------------------------------------


def _read_bytes(source: str) -> bytes:
    path = Path(source)
    if not path.exists():
        raise DataError(f"{source}: no such file")
    if path.is_dir():
        raise DataError(f"{source}: is a directory, not a CSV file")
    try:
        with path.open("rb") as file:
            return _read_lines_bounded(source, file)
    except OSError as err:
        raise DataError(f"{source}: cannot be read ({err.strerror})") from None


def _read_lines_bounded(source: str, file) -> bytes:
    """The file's bytes, read in chunks; a DataError as soon as a line passes MAX_LINE_BYTES,
    so that a file of one huge line costs only that much reading."""
    chunks: list[bytes] = []
    since_newline = 0  # bytes of the current line read so far
    newlines = 0  # line breaks before the current line
    while chunk := file.read(_READ_CHUNK):
        chunks.append(chunk)
        breaks = np.flatnonzero(np.frombuffer(chunk, dtype=np.uint8) == ord("\n"))
        # each line that ends in this chunk, with the part of it read before
        lengths = np.diff(breaks, prepend=-1) - 1
        if len(lengths):
            lengths[0] += since_newline
        too_long = np.flatnonzero(lengths > MAX_LINE_BYTES)
        if len(too_long):
            newlines += int(too_long[0])
        else:
            newlines += len(breaks)
            since_newline = len(chunk) - 1 - int(breaks[-1]) if len(breaks) else since_newline
            since_newline += 0 if len(breaks) else len(chunk)
        if len(too_long) or since_newline > MAX_LINE_BYTES:
            raise DataError(
                f"{source}: line {newlines + 1} is longer than {MAX_LINE_BYTES >> 20} MiB, "
                "the most a line may hold"
            )
    return b"".join(chunks)


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
    _refuse_lone_cr(source, b, newlines, quotes)
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


def _refuse_lone_cr(source: str, b: np.ndarray, newlines: np.ndarray, quotes: np.ndarray) -> None:
    """A carriage return outside quotes and not before a newline (old Mac line ends) splits
    lines for one reader and not another: refused, naming where it is."""
    returns = np.flatnonzero(b == ord("\r"))
    if len(returns) == 0:
        return
    lone = returns[(returns + 1 >= len(b)) | (b[np.minimum(returns + 1, len(b) - 1)] != 10)]
    lone = lone[lone + 1 < len(b)]  # one at the very end ends nothing
    if len(quotes):
        lone = lone[np.searchsorted(quotes, lone) % 2 == 0]
    if len(lone):
        line = int(np.searchsorted(newlines, lone[0])) + 1
        raise DataError(
            f"{source}: line {line}: a carriage return (CR) without a newline ends a line; "
            "save the file with LF or CRLF line ends"
        )


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


def _header_names(source: str, line: int, first: list[str]) -> tuple[list[str], str | None]:
    """The column names of the first record (present, distinct, and not all numbers), and
    the name given to a first column whose header cell is empty (row names), or None."""
    if all(_is_number(name) for name in first if name) and any(first[1:]):
        raise DataError(
            f"{source}: line {line} is all numbers ({', '.join(first[:3])}...), not column names; "
            "if the file has no header, set data.header: false"
        )
    rownames = None
    if len(first) > 1 and not first[0]:  # R's write.csv and pandas' to_csv: the row names
        rownames = ROWNAMES
        while rownames in first:
            rownames = f"{rownames}_"
        first = [rownames, *first[1:]]
    for position, name in enumerate(first, start=1):
        if not name:
            raise DataError(f"{source}: line {line}: column {position} has no name")
    seen: set[str] = set()
    for name in first:
        if name in seen:
            raise DataError(f"{source}: line {line}: duplicate column name {name!r}")
        seen.add(name)
    return first, rownames


# -- the cells ----------------------------------------------------------------------------------

# (values, missing, levels): numbers (levels None), or codes into sorted distinct texts
Cells = tuple[np.ndarray, np.ndarray, "np.ndarray | None"]


def _from_text(levels: np.ndarray, codes: np.ndarray, keep_text: bool = False) -> Cells:
    """Cells given as distinct texts and a code per row (-1: missing), stripped and rechecked.

    Only the distinct texts are stripped, compared with MISSING_MARKERS and tried as numbers
    (with NumPy's whole-array conversion), so the work grows with the categories, not rows.
    With `keep_text` they stay text even when every one is a number (an id).
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
    numbers = None if keep_text else _as_numbers(distinct)
    if numbers is not None:
        values = numbers[np.maximum(codes, 0)] if len(distinct) else np.zeros(len(codes))
        return np.where(missing, np.nan, values), missing, None
    return codes.astype(np.int64), missing, distinct


def _decimal_commas(cells: Cells, commas: bool) -> tuple[Cells, str]:
    """A text column whose every cell is a number written with a decimal comma (`4,318`), as
    numbers when `commas` allows it: ((values, missing, None), "comma"). Left as text it is
    marked "comma-text", so that the reason can be given; any other column is returned as is
    ("number" or "text"). A cell with both a point and a comma (`1.234,5`) is left as text."""
    values, missing, levels = cells
    if levels is None:
        return cells, "number"
    if len(levels) == 0 or not np.any(np.strings.find(levels, ",") >= 0):
        return cells, "text"
    if np.any(np.strings.find(levels, ".") >= 0):
        return cells, "text"
    numbers = _as_numbers(np.strings.replace(levels, ",", "."))
    if numbers is None:
        return cells, "text"
    if not commas:
        return cells, "comma-text"
    return (np.where(missing, np.nan, numbers[np.maximum(values, 0)]), missing, None), "comma"


def _as_numbers(text: np.ndarray) -> np.ndarray | None:
    """`text` ('U') as float64 if every element is a number, else None."""
    # "1_000" is a number to Python's float() but not to pandas: text for both readers
    if np.any(np.strings.find(text, "_") >= 0):
        return None
    try:
        return text.astype(np.float64)  # NumPy converts the whole array in one call
    except ValueError:
        return None


def _columns_pandas(
    source: str, data: bytes, delimiter: str, names: list[str], as_text: set[str]
) -> list[Cells]:
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
        frame = read(dtype={name: str for name in as_text} or None)
    except pd.errors.ParserError as err:  # the record scan found no fault, pandas did
        why = str(err).strip().splitlines()[-1]
        raise DataError(f"{source}: malformed CSV ({why})") from None
    columns: list[Cells] = []
    for name in names:
        series = frame[name]
        if series.dtype.kind in "iuf" and name not in as_text:
            values = series.to_numpy(dtype=np.float64, na_value=np.nan)
            columns.append((values, np.isnan(values), None))
            continue
        if not pd.api.types.is_string_dtype(series):
            # words such as True/False read as booleans, or a column typed differently in
            # two chunks: read its text as written
            series = read(usecols=[name], dtype=str)[name]
        codes, levels = pd.factorize(series, sort=True)  # NaN (missing) is code -1
        columns.append(_from_text(np.asarray(levels, dtype=str), codes, name in as_text))
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
