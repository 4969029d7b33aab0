"""Delimited files read into columns: what is read, by both readers alike, and what is refused.

Expected values are written out by hand from the file text in each test; the two readers
(pandas' C reader, and the csv module with NumPy) must give the same table.
"""

import hashlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from data.errors import DataError
from data.table import MISSING_MARKERS, read_table


def write(tmp_path, text, name="data.csv", *, raw=None):
    path = tmp_path / name
    if raw is None:
        path.write_text(text, encoding="utf-8", newline="")
    else:
        path.write_bytes(raw)
    return path


def read_error(path, **kwargs):
    with pytest.raises(DataError) as info:
        read_table(path, **kwargs)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    return message


def cells(column):
    """A column as a plain list: numbers (None where missing) or text ("" where missing)."""
    if column.is_numeric:
        return [None if m else v for v, m in zip(column.values.tolist(), column.missing)]
    return column.text().tolist()


# -- what is read -------------------------------------------------------------------------------


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_each_delimiter_is_detected(tmp_path, delimiter):
    lines = ["size,colour,label", "1.5,red,a", "2,blue,b", "-3e2,red,a"]
    path = write(tmp_path, "\n".join(line.replace(",", delimiter) for line in lines) + "\n")
    table = read_table(path)
    assert table.delimiter == delimiter and table.names == ("size", "colour", "label")
    assert cells(table.column("size")) == [1.5, 2.0, -300.0]
    assert cells(table.column("colour")) == ["red", "blue", "red"]
    assert table.column("colour").levels.tolist() == ["blue", "red"]
    assert table.lines.tolist() == [2, 3, 4]


def test_semicolons_win_over_decimal_commas_because_the_header_splits_alike(tmp_path):
    path = write(tmp_path, "a;b;c\n1,5;2;x\n2,25;3;y\n")
    table = read_table(path)
    assert table.delimiter == ";" and cells(table.column("b")) == [2.0, 3.0]
    assert cells(table.column("a")) == [1.5, 2.25]  # decimal commas, taken by auto
    assert table.decimal == ","


def test_decimal_point_keeps_comma_numbers_as_text_and_says_why(tmp_path):
    path = write(tmp_path, "a;b;c\n1,5;2;x\n2,25;3;y\n")
    table = read_table(path, decimal=".")
    assert cells(table.column("a")) == ["1,5", "2,25"]
    assert table.comma_text == ("a",) and table.decimal == "."


def test_decimal_comma_given_reads_quoted_commas_in_a_comma_file(tmp_path):
    path = write(tmp_path, 'a,b,c\n"1,5",2,x\n"-0,25",3,y\n')
    assert cells(read_table(path).column("a")) == ["1,5", "-0,25"]
    table = read_table(path, decimal=",")
    assert cells(table.column("a")) == [1.5, -0.25]


def test_thousands_and_decimal_marks_together_stay_text(tmp_path):
    path = write(tmp_path, "a;b\n1.234,5;x\n2,5;y\n")
    table = read_table(path)
    assert cells(table.column("a")) == ["1.234,5", "2,5"] and table.comma_text == ()


def test_a_given_delimiter_is_used_even_where_another_would_split(tmp_path):
    # with `;` given and decimal ".", "1,5" is one text cell
    path = write(tmp_path, "a;b\n1,5;x\n2,5;y\n")
    table = read_table(path, delimiter=";", decimal=".")
    assert cells(table.column("a")) == ["1,5", "2,5"] and not table.column("a").is_numeric


def test_without_a_header_the_columns_are_col1_to_colN(tmp_path):
    path = write(tmp_path, "1,2,x\n3,4,y\n")
    table = read_table(path, header=False)
    assert table.names == ("col1", "col2", "col3") and table.n_rows == 2
    assert cells(table.column("col1")) == [1.0, 3.0] and table.lines.tolist() == [1, 2]


def test_bom_crlf_quotes_and_padded_spaces(tmp_path):
    text = (
        'name, "note",value\r\n'
        '"Smith, J.", "said ""hi""", 1.5 \r\n'
        '  Lee ,"two\r\nlines",  2\r\n'
        "\r\n"
        '"Ng",plain,3\r\n'
    )
    path = write(tmp_path, "", raw=b"\xef\xbb\xbf" + text.encode())
    table = read_table(path)
    assert table.names == ("name", "note", "value")
    assert cells(table.column("name")) == ["Smith, J.", "Lee", "Ng"]
    assert cells(table.column("note")) == ['said "hi"', "two\r\nlines", "plain"]
    assert cells(table.column("value")) == [1.5, 2.0, 3.0]
    assert table.lines.tolist() == [2, 3, 6]  # the quoted line break and the blank line count


def test_every_missing_marker_is_missing_and_the_column_stays_numeric(tmp_path):
    assert set(MISSING_MARKERS) == {"", "NA", "N/A", "NaN", "nan", "null", "?"}
    rows = "".join(f"{marker},{marker}\n" for marker in MISSING_MARKERS)
    path = write(tmp_path, f"x,word\n{rows}1,dog\n NA ,cat\n")
    table = read_table(path)
    x, word = table.column("x"), table.column("word")
    assert x.is_numeric and x.missing.tolist() == [True] * 7 + [False, True]
    assert np.isnan(x.values[x.missing]).all() and x.values[7] == 1.0
    assert not word.is_numeric and word.missing.tolist() == [True] * 7 + [False, False]
    assert word.levels.tolist() == ["cat", "dog"]  # markers are not categories


def test_one_word_makes_a_column_text_and_numbers_stay_as_written(tmp_path):
    path = write(tmp_path, "code,label\n10,a\n9,b\nten,a\n")
    code = read_table(path).column("code")
    assert not code.is_numeric and code.levels.tolist() == ["10", "9", "ten"]


def test_true_and_false_are_text_as_written(tmp_path):
    path = write(tmp_path, "flag,label\nTrue,a\nfalse,b\nTrue,a\n")
    flag = read_table(path).column("flag")
    assert cells(flag) == ["True", "false", "True"]


def test_the_file_is_recorded_by_size_and_sha256_of_its_bytes(tmp_path):
    raw = b"\xef\xbb\xbfa,b\r\n1,x\r\n"
    path = write(tmp_path, "", raw=raw)
    record = read_table(path).record()
    assert record == {
        "kind": "csv",
        "path": str(path.resolve()),
        "size": len(raw),
        "sha256": hashlib.sha256(raw).hexdigest(),
    }


def test_take_keeps_each_rows_line(tmp_path):
    path = write(tmp_path, "a,b\n1,x\n\n2,y\n3,z\n")
    part = read_table(path).take(np.array([2, 0]))
    assert part.lines.tolist() == [5, 2] and cells(part.column("b")) == ["z", "x"]


def test_missing_markers_and_padded_words_in_a_mixed_file(tmp_path):
    rng = np.random.default_rng(7)
    words = np.array(["red", "green", " blue", "NA", "", "?"])
    numbers = np.char.mod("%.5g", rng.normal(size=60) * 100).astype(object)
    numbers[rng.random(60) < 0.2] = "NA"
    lines = [f"{n},{w},{i % 3}" for i, (n, w) in enumerate(zip(numbers, rng.choice(words, 60)))]
    path = write(tmp_path, "x,colour,label\n" + "\n".join(lines) + "\n")
    table = read_table(path)
    assert table.column("x").is_numeric and not table.column("colour").is_numeric
    expected_missing = [n == "NA" for n in numbers]
    assert table.column("x").missing.tolist() == expected_missing
    assert table.column("colour").levels.tolist() == ["blue", "green", "red"]


# -- what is refused ----------------------------------------------------------------------------


def test_a_first_row_of_numbers_is_refused_naming_header_false(tmp_path):
    message = read_error(write(tmp_path, "1,2,3\n4,5,6\n"))
    assert "line 1" in message and "data.header: false" in message


@pytest.mark.parametrize(("row", "fields"), [("3,4", 2), ("3,4,5,6", 4)])
def test_a_ragged_row_is_refused_naming_its_line(tmp_path, row, fields):
    path = write(tmp_path, f"a,b,c\n1,2,x\n\n{row}\n7,8,y\n")
    message = read_error(path)
    assert f"line 4 has {fields} fields, line 1 has 3" in message


def test_numbers_that_are_not_finite_are_refused(tmp_path):
    message = read_error(write(tmp_path, "a,b\n1,x\ninf,y\n"))
    assert "line 3, column 'a': inf is not finite" in message


def test_bytes_that_are_not_utf8_are_refused_naming_the_line(tmp_path):
    path = write(tmp_path, "", raw=b"a,b\n1,x\n2,caf\xe9\n")
    assert "line 3: not UTF-8" in read_error(path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "the file is empty"),
        ("\n  \n", "the file is empty"),
        ("a,b\n", "has a header but no data rows"),
        ("a,a\n1,2\n", "duplicate column name 'a'"),
        ("a,,c\n1,2,3\n", "column 2 has no name"),
        ("a\n1\n2\n", "cannot tell the delimiter"),
    ],
)
def test_files_without_a_table_are_refused(tmp_path, text, expected):
    assert expected in read_error(write(tmp_path, text))


def test_a_missing_file_and_a_bad_delimiter_are_refused(tmp_path):
    assert "no such file" in read_error(tmp_path / "none.csv")
    assert "delimiter 'ab'" in read_error(write(tmp_path, "a,b\n1,2\n"), delimiter="ab")


def test_an_unclosed_quote_is_refused_naming_its_line(tmp_path):
    message = read_error(write(tmp_path, 'a,b\n1,x\n2,"y\n3,z\n'))
    assert "line 3: malformed CSV (a quote is never closed)" in message


def test_many_blank_lines_are_skipped_and_counted_in_line_numbers(tmp_path):
    path = write(tmp_path, "a,b\n" + " \n" * 100_000 + "1,x\n\r\n\t\n2,y")
    table = read_table(path)
    assert table.n_rows == 2 and table.lines.tolist() == [100_002, 100_005]


# -- any file csv.writer writes -----------------------------------------------------------------

_CELL = st.one_of(
    st.sampled_from((*MISSING_MARKERS, " NA ", "  ")),
    st.floats(-1e6, 1e6, allow_nan=False).map(repr),
    st.integers(-50, 50).map(str),
    st.text(alphabet='ab ,;"\n-.7', min_size=1, max_size=6),
)


@settings(max_examples=40, deadline=None)
@given(
    st.integers(2, 4).flatmap(
        lambda k: st.lists(st.lists(_CELL, min_size=k, max_size=k), min_size=1, max_size=6)
    )
)
def test_any_file_csv_writer_writes_reads_back(tmp_path_factory, rows):
    import csv
    import io

    k = len(rows[0])
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows([[f"h{j}" for j in range(k)], *rows])
    path = tmp_path_factory.mktemp("any") / "data.csv"
    path.write_text(buffer.getvalue(), encoding="utf-8")
    blank = [all(not cell.strip() for cell in row) and k == 1 for row in rows]
    assert not any(blank)  # k >= 2: a row of empty cells is a row (`,,`), never a blank line
    table = read_table(path, delimiter=",")
    assert table.n_rows == len(rows)
    for j, column in enumerate(table):
        texts = [row[j].strip() for row in rows]
        missing = [text in MISSING_MARKERS for text in texts]
        assert column.missing.tolist() == missing
        present = [text for text, gone in zip(texts, missing) if not gone]
        try:
            numbers = [float(text) for text in present]
        except ValueError:
            numbers = None
        assert column.is_numeric == (numbers is not None)
        if numbers is not None:
            assert column.values[~column.missing].tolist() == numbers
        else:
            assert column.text()[~column.missing].tolist() == present


# -- files as R and pandas export them, and hostile ones ------------------------------------------


def test_an_empty_first_header_cell_names_the_row_names_read_as_text(tmp_path):
    path = write(tmp_path, '"","x","y"\n"007",1.5,"a"\n"010",2,"b"\n')
    table = read_table(path)
    assert table.names == ("rownames", "x", "y") and table.rownames == "rownames"
    assert cells(table.column("rownames")) == ["007", "010"]  # text, as written


def test_a_column_named_in_text_keeps_its_digits_as_written(tmp_path):
    path = write(tmp_path, "account,x\n001000025,1\n1.50,2\n")
    table = read_table(path, text=("account",))
    assert cells(table.column("account")) == ["001000025", "1.50"]
    assert cells(read_table(path).column("account")) == [1000025.0, 1.5]


def test_a_repeated_header_row_is_refused_with_its_line(tmp_path):
    path = write(tmp_path, "x,kind,label\n1,a,p\n2,b,q\n\nx,kind,label\n3,a,p\n")
    assert "line 5 repeats the header row" in read_error(path)


def test_a_repeated_header_row_with_row_names_is_refused_too(tmp_path):
    path = write(tmp_path, ",x,label\n1,a,p\n,x,label\n2,b,q\n")
    assert "line 3 repeats the header row" in read_error(path)


def test_a_header_word_in_one_column_is_data(tmp_path):
    path = write(tmp_path, "x,kind,label\n1,kind,p\n2,b,label\n")
    assert read_table(path).n_rows == 2


def test_lone_carriage_returns_are_named_not_miscounted(tmp_path):
    path = write(tmp_path, "", raw=b"a,b,c,d\r1,2,3,4\r5,6,7,8\r")
    message = read_error(path)
    assert "line 1: a carriage return (CR) without a newline ends a line" in message
    assert "LF or CRLF" in message
    # one inside quotes is a cell's own
    quoted = write(tmp_path, "", "q.csv", raw=b'a,b\n"x\ry",1\nz,2\n')
    assert read_table(quoted).n_rows == 2


def test_a_line_longer_than_the_limit_is_refused_before_reading_on(tmp_path, monkeypatch):
    import data.table

    monkeypatch.setattr(data.table, "MAX_LINE_BYTES", 1000)
    monkeypatch.setattr(data.table, "_READ_CHUNK", 256)
    long = "a,b\n" + "1,2\n" * 300 + "x" * 999 + ",2\n"  # line 302 has 1001 bytes
    assert "line 302 is longer than" in read_error(write(tmp_path, long))
    fits = write(tmp_path, "a,b\n" + "1,2\n" * 300 + "x" * 997 + ",2\n", "fits.csv")
    assert read_table(fits).n_rows == 301
    # a file of one endless line is refused after reading about the limit, not all of it
    reads = []
    huge = tmp_path / "huge.csv"
    huge.write_bytes(b"a" * 100_000)
    real_open = type(huge).open

    def counting_open(self, *args, **kwargs):
        file = real_open(self, *args, **kwargs)
        read = file.read
        file.read = lambda size=-1: reads.append(size) or read(size)  # type: ignore[method-assign]
        return file

    monkeypatch.setattr(type(huge), "open", counting_open)
    assert "line 1 is longer than" in read_error(huge)
    assert len(reads) <= 1000 // 256 + 2


def test_a_quoted_cell_longer_than_the_limit_is_refused_whatever_its_lines(tmp_path, monkeypatch):
    import data.table

    monkeypatch.setattr(data.table, "MAX_LINE_BYTES", 1000)
    cell = "\n".join(["x" * 99] * 12)  # 1,199 bytes in lines of 99
    path = write(tmp_path, f'a,b\n1,2\n"{cell}",3\n4,5\n')
    assert "the row starting on line 3 is longer than" in read_error(path)


def test_looking_up_each_of_many_columns_is_not_quadratic(tmp_path):
    n = 20_000
    path = write(tmp_path, ",".join(f"c{i}" for i in range(n)) + "\n" + ",".join("1" * n) + "\n")
    table = read_table(path)
    import time

    started = time.perf_counter()
    for name in table.names:
        table.column(name)
    assert time.perf_counter() - started < 0.5  # a linear search each: about 10 s here
