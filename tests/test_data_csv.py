"""Labelled CSV files: what is read, and a one-line DataError naming the culprit otherwise."""

import numpy as np
import pytest

from data import DataError, load_dataset, load_features


def write(tmp_path, text, name="data.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load_error(source, target=None):
    with pytest.raises(DataError) as info:
        load_dataset(str(source), target=target)
    message = str(info.value)
    assert "\n" not in message
    return message


# -- what is read -------------------------------------------------------------------------------


def test_string_labels_in_the_last_column_sort_as_text(tmp_path):
    path = write(tmp_path, "a,b,species\n1,2,dog\n3,4,cat\n5,6.5,dog\n7,8,ant\n")
    d = load_dataset(str(path))
    assert d.classes.dtype.kind == "U" and d.classes.tolist() == ["ant", "cat", "dog"]
    assert d.y.dtype == np.int64 and d.y.tolist() == [2, 1, 2, 0]
    assert d.X.dtype == np.float64 and d.X.flags.c_contiguous
    assert d.X.tolist() == [[1, 2], [3, 4], [5, 6.5], [7, 8]]
    assert d.feature_names == ("a", "b") and (d.n_samples, d.n_features, d.n_classes) == (4, 2, 3)


def test_integer_labels_sort_numerically_so_10_comes_after_9(tmp_path):
    path = write(tmp_path, "x,label\n1,10\n2,9\n3,10\n4,2\n5,-1\n")
    d = load_dataset(str(path))
    assert d.classes.dtype == np.int64 and d.classes.tolist() == [-1, 2, 9, 10]
    assert d.y.tolist() == [3, 2, 3, 1, 0]


def test_labels_that_are_all_numbers_but_not_all_integers_are_floats(tmp_path):
    path = write(tmp_path, "x,label\n1,2.5\n2,10\n3,0.5\n4,10.0\n")
    d = load_dataset(str(path))
    assert d.classes.dtype == np.float64 and d.classes.tolist() == [0.5, 2.5, 10.0]
    assert d.y.tolist() == [1, 2, 0, 2]  # "10" and "10.0" are the same number


def test_a_mix_of_numbers_and_words_is_text(tmp_path):
    path = write(tmp_path, "x,label\n1,10\n2,9\n3,nine\n")
    d = load_dataset(str(path))
    assert d.classes.tolist() == ["10", "9", "nine"]  # as text, "10" sorts before "9"


def test_integer_labels_beyond_64_bits_stay_distinct_as_text(tmp_path):
    big = 2**64
    path = write(tmp_path, f"x,label\n1,{big}\n2,{big + 1}\n")
    assert load_dataset(str(path)).classes.tolist() == [str(big), str(big + 1)]


def test_the_target_column_may_sit_in_the_middle(tmp_path):
    path = write(tmp_path, "x,label,z\n1,b,2\n3,a,4\n5,b,6\n")
    d = load_dataset(str(path), target="label")
    assert d.feature_names == ("x", "z") and d.X.tolist() == [[1, 2], [3, 4], [5, 6]]
    assert d.classes.tolist() == ["a", "b"] and d.y.tolist() == [1, 0, 1]


def test_blank_lines_spaces_quotes_crlf_and_a_byte_order_mark_are_fine(tmp_path):
    path = tmp_path / "data.csv"
    text = '\ufeff a , "b,2",label\r\n 1 , 2 , x \r\n\r\n3,4,"y"\r\n\r\n\r\n'
    path.write_bytes(text.encode("utf-8"))
    d = load_dataset(str(path))
    assert d.feature_names == ("a", "b,2") and d.X.tolist() == [[1, 2], [3, 4]]
    assert d.classes.tolist() == ["x", "y"]


def test_the_name_is_the_path_as_given(tmp_path, monkeypatch):
    write(tmp_path, "a,label\n1,x\n2,y\n")
    monkeypatch.chdir(tmp_path)
    assert load_dataset("./data.csv").name == "./data.csv"
    write(tmp_path, "a,label\n1,x\n2,y\n", name="UPPER.CSV")
    assert load_dataset("UPPER.CSV").name == "UPPER.CSV"  # the extension in any case


# -- what is refused ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "culprit"),
    [
        ("", "the file is empty"),
        ("\n\n  \n", "the file is empty"),
        ("a,b,label\n", "has a header but no data rows"),
        ("a,b,label\n\n\n", "has a header but no data rows"),
        ("a,a,label\n1,2,x\n3,4,y\n", "line 1: duplicate column name 'a'"),
        ("a,,label\n1,2,x\n3,4,y\n", "line 1: column 2 has no name"),
        ("a,b, \n1,2,x\n3,4,y\n", "line 1: column 3 has no name"),
        ("label\nx\ny\n", "needs at least one feature column and a label column"),
        ("a,b,label\n1,2,x\n3,4\n", "line 3 has 2 fields, the header has 3"),
        ("a,b,label\n1,2,x\n3,4,y,z\n", "line 3 has 4 fields, the header has 3"),
        ("a,b,label\n1,2,x\n\n\n3,4\n", "line 5 has 2 fields"),  # blank lines are counted
        ('a,b,label\n1,2,"x\ny"\n3,4\n', "line 4 has 2 fields"),  # so is a quoted line break
        ('a,b,label\n1,2,x\n3,4,"y\n5,6,z\n', "line 3: malformed CSV (a quote is never closed)"),
        ('a,b,label\n1,2,"x"y\n3,4,z\n', "line 2: malformed CSV"),
        ("a,b,label\n1,2,x\n3,oops,y\n", "line 3, column 'b': 'oops' is not a number"),
        ("a,b,label\n1,2,x\n3,,y\n", "line 3, column 'b': empty, expected a number"),
        ("a,b,label\n1,nan,x\n3,4,y\n", "line 2, column 'b': nan is not finite"),
        ("a,b,label\n1,2,x\n3,4,y\ninf,5,x\n", "line 4, column 'a': inf is not finite"),
        ("a,b,label\n1,-Infinity,x\n3,4,y\n", "column 'b': -Infinity is not finite"),
        ("a,b,label\n1,2, \n3,4,y\n", "line 2: empty label in column 'label'"),
        ("a,b,label\n1,2,x\n", "needs at least 2 samples, found 1"),
        ("a,b,label\n1,2,a\n3,4,a\n5,6,a\n", "only one class 'a' in column 'label'"),
        ("a,b,label\n1,2,7\n3,4,07\n", "only one class 7"),
    ],
)
def test_a_broken_file_is_one_line_naming_the_file_and_the_culprit(tmp_path, text, culprit):
    path = write(tmp_path, text)
    message = load_error(path)
    assert message.startswith(f"{path}: ") and culprit in message


def test_a_missing_file(tmp_path):
    path = tmp_path / "absent.csv"
    assert load_error(path) == f"{path}: no such file"


def test_a_directory(tmp_path):
    path = tmp_path / "folder.csv"
    path.mkdir()
    assert load_error(path) == f"{path}: is a directory, not a CSV file"


def test_a_file_that_is_not_utf8(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("a,label\n1,2\n2,café\n".encode("latin-1"))
    assert load_error(path) == f"{path}: line 3: not UTF-8 text (byte 0xe9); save it as UTF-8"


def test_an_unreadable_file(tmp_path, monkeypatch):
    path = write(tmp_path, "a,label\n1,x\n2,y\n")

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    # chmod cannot stop root, who runs some CI machines, so the refusal is simulated
    monkeypatch.setattr(type(path), "read_bytes", refuse)
    assert load_error(path) == f"{path}: cannot be read (Permission denied)"


def test_a_target_column_that_is_not_there_lists_the_columns(tmp_path):
    path = write(tmp_path, "a,b,kind\n1,2,x\n3,4,y\n")
    message = load_error(path, target="label")
    assert message == f"{path}: no column 'label' for target; columns: a, b, kind"


# -- feature files for predict ------------------------------------------------------------------


def test_features_are_found_by_name_in_any_order_without_the_label(tmp_path):
    path = write(tmp_path, "id,b,label,a\n7,2,x,1\n8,4,y,3\n")
    X = load_features(path, ("a", "b"), 2)
    assert X.dtype == np.float64 and X.tolist() == [[1, 2], [3, 4]]


def test_features_without_names_are_taken_in_order_and_counted(tmp_path):
    path = write(tmp_path, "p,q\n1,2\n3,4\n")
    assert load_features(path, None, 2).tolist() == [[1, 2], [3, 4]]
    with pytest.raises(DataError, match="has 2 columns, the model expects 3"):
        load_features(path, None, 3)


def test_a_feature_file_missing_a_model_column_names_it(tmp_path):
    path = write(tmp_path, "a,c\n1,2\n")
    with pytest.raises(DataError) as info:
        load_features(path, ("a", "b"), 2)
    assert str(info.value) == f"{path}: missing the model's feature column(s) 'b'"


def test_a_feature_file_with_a_bad_value_names_line_and_column(tmp_path):
    path = write(tmp_path, "a,b\n1,2\n3,x\n")
    with pytest.raises(DataError, match=r"line 3, column 'b': 'x' is not a number"):
        load_features(path, ("a", "b"), 2)
