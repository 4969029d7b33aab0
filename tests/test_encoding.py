"""What is learned from the training rows and applied later, against scikit-learn and by hand.

The reference is scikit-learn's ColumnTransformer (SimpleImputer then StandardScaler on the
numeric columns, SimpleImputer(most_frequent) then OneHotEncoder(handle_unknown="ignore") on
the categorical ones), given the cells as Python values, not through our reader.
"""

import numpy as np
import pytest

from data.encoding import Preprocessor, choose_columns, encode_labels
from data.errors import DataError
from data.table import read_table


def write(tmp_path, text, name="data.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def error(call, *args, **kwargs):
    with pytest.raises(DataError) as info:
        call(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


def sklearn_reference(numbers, words, train, test):
    """ColumnTransformer output on the test rows, by encoded feature name ('colour=red')."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    n_num = numbers.shape[1]
    X = np.empty((len(numbers), n_num + words.shape[1]), dtype=object)
    X[:, :n_num], X[:, n_num:] = numbers, words
    transform = ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(), StandardScaler()), list(range(n_num))),
            (
                "cat",
                make_pipeline(
                    SimpleImputer(strategy="most_frequent", missing_values=None),
                    OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                ),
                list(range(n_num, X.shape[1])),
            ),
        ]
    )
    transform.set_output(transform="default")
    transform.fit(X[train])
    out = transform.transform(X[test]).astype(float)
    encoder = transform.named_transformers_["cat"][-1]
    names = [f"x{j}" for j in range(n_num)]
    for j, categories in enumerate(encoder.categories_):
        names += [f"w{j}={c}" for c in categories]
    return dict(zip(names, out.T))


def test_the_matrix_equals_scikit_learns_column_transformer(tmp_path):
    rng = np.random.default_rng(0)
    n = 120
    numbers = rng.normal(size=(n, 3)) * [1, 50, 0.01] + [0, 10, 5]
    numbers[rng.random((n, 3)) < 0.1] = np.nan
    numbers[:, 2][~np.isnan(numbers[:, 2])] = 7.25  # a constant column: scale 1
    pool = np.array(["red", "green", "blue", "teal"], dtype=object)
    words = np.stack([pool[rng.integers(0, 3, n)], pool[rng.integers(1, 4, n)]], axis=1)
    words[rng.random((n, 2)) < 0.1] = None
    train, test = np.arange(80), np.arange(80, n)
    words[100, 0] = "violet"  # a category the training rows never had
    cells = [
        [("NA" if np.isnan(v) else repr(float(v))) for v in row] + [w or "" for w in wrow]
        for row, wrow in zip(numbers, words)
    ]
    text = "x0,x1,x2,w0,w1,label\n" + "".join(
        ",".join(c) + f",{i % 2}\n" for i, c in enumerate(cells)
    )
    table = read_table(write(tmp_path, text))
    prep = Preprocessor.fit(table.take(train), ("x0", "x1", "x2", "w0", "w1"), missing="impute")
    encoded = prep.encode(table.take(test))
    expected = sklearn_reference(numbers, words, train, test)
    assert sorted(prep.feature_names) == sorted(expected)
    for j, name in enumerate(prep.feature_names):
        np.testing.assert_allclose(encoded.X[:, j], expected[name], rtol=1e-12, atol=1e-12)
    assert encoded.unseen == {"w0": 1}
    assert encoded.X.dtype == np.float64 and encoded.X.flags.c_contiguous


def test_by_hand_impute_standardise_one_hot_and_unseen_counts(tmp_path):
    train = write(tmp_path, "x,c,y\n1,b,0\n3,a,1\nNA,b,0\n5,NA,1\n", "train.csv")
    prep = Preprocessor.fit(read_table(train), ["x", "c"], missing="impute")
    # x: mean 3 from 1, 3, 5; filled [1, 3, 3, 5]; population std sqrt(2)
    # c: categories a, b; most frequent b fills the missing cell
    assert prep.feature_names == ("x", "c=a", "c=b")
    assert prep.mean.tolist() == [3.0] and prep.scale.tolist() == [np.sqrt(2.0)]
    assert prep.fill.tolist() == ["b"]
    later = write(tmp_path, "c,x,id\nz,5,p\nNA,NA,q\na,1,r\nz,3,s\n", "later.csv")
    encoded = prep.encode(read_table(later))
    r = 1 / np.sqrt(2.0)
    assert encoded.X.tolist() == [[2 * r, 0, 0], [0, 0, 1], [-2 * r, 1, 0], [0, 0, 0]]
    assert encoded.unseen == {"c": 2}
    assert prep.describe() == "1 numeric, c -> 2 one-hot columns (3 features)"


def test_the_most_frequent_tie_goes_to_the_first_in_sorted_order(tmp_path):
    path = write(tmp_path, "c,y\npear,0\napple,1\npear,0\napple,1\nNA,0\n")
    prep = Preprocessor.fit(read_table(path), ["c"], missing="impute")
    assert prep.fill.tolist() == ["apple"]


def test_missing_cells_are_refused_by_default_naming_line_column_and_fix(tmp_path):
    path = write(tmp_path, "x,c,y\n1,a,0\n2,,1\n")
    message = error(Preprocessor.fit, read_table(path), ["x", "c"])
    assert "line 3, column 'c'" in message and "data.missing: impute" in message
    fitted = Preprocessor.fit(
        read_table(write(tmp_path, "x,c,y\n1,a,0\n2,b,1\n", "ok.csv")), ["x", "c"]
    )
    new = write(tmp_path, "x,c\n1,a\n?,a\n3,\n4,b\n", "new.csv")
    message = error(fitted.transform, read_table(new))
    assert "2 row(s) have missing cells, the first on line 3 (column 'x')" in message
    assert "cannot score them; a run trained with data.missing: impute can" in message


def test_numeric_codes_named_categorical_become_one_hot(tmp_path):
    path = write(tmp_path, "code,size,y\n3,1.5,a\n10,2,b\n3,1,a\n")
    prep = Preprocessor.fit(read_table(path), ["code", "size"], categorical=["code"])
    assert prep.feature_names == ("code=10", "code=3", "size")
    assert prep.transform(read_table(path))[:, :2].tolist() == [[0, 1], [1, 0], [0, 1]]
    assert "data.categorical" in error(
        Preprocessor.fit, read_table(path), ["size"], categorical=["code"]
    )


def test_a_column_of_mostly_unique_text_is_refused_with_a_hint(tmp_path):
    rows = "".join(f"user{i},{i % 2}\n" for i in range(30))
    message = error(Preprocessor.fit, read_table(write(tmp_path, "name,y\n" + rows)), ["name"])
    assert "30 different values in 30 rows" in message
    assert "data.drop: [name]" in message and "data.id: name" in message


def test_what_is_learned_survives_npz_without_pickle(tmp_path):
    path = write(tmp_path, "x,c,d,y\n1,b,u,0\n3,a,v,1\nNA,b,u,0\n5,NA,w,1\n")
    table = read_table(path)
    prep = Preprocessor.fit(table, ["x", "c", "d"], missing="impute")
    arrays = prep.to_arrays("prep.")
    assert all(a.dtype != object for a in arrays.values())
    np.savez(tmp_path / "model.npz", **arrays)
    with np.load(tmp_path / "model.npz", allow_pickle=False) as stored:
        again = Preprocessor.from_arrays(stored, "prep.")
    assert again.feature_names == prep.feature_names and again.missing == "impute"
    assert np.array_equal(again.transform(table), prep.transform(table))


def test_a_missing_feature_column_or_a_word_in_a_numeric_one_is_named(tmp_path):
    prep = Preprocessor.fit(read_table(write(tmp_path, "x,c,y\n1,a,0\n2,b,1\n")), ["x", "c"])
    message = error(prep.transform, read_table(write(tmp_path, "c,y\na,0\n", "no_x.csv")))
    assert "missing the model's feature column(s) 'x'" in message
    message = error(prep.transform, read_table(write(tmp_path, "x,c\n1,a\nten,b\n", "w.csv")))
    assert "line 3, column 'x': 'ten' is not a number" in message


# -- which column is what, and the labels -------------------------------------------------------


def test_roles_default_to_the_last_column_with_drop_and_id_left_out(tmp_path):
    table = read_table(write(tmp_path, "id,a,junk,b,label\n7,1,x,2,u\n8,3,y,4,v\n"))
    roles = choose_columns(table, drop=["junk"], id="id")
    assert (roles.target, roles.id, roles.features) == ("label", "id", ("a", "b"))
    assert choose_columns(table, target="a").features == ("id", "junk", "b", "label")
    assert "no column 'nope'" in error(choose_columns, table, drop=["nope"])


def test_a_last_column_that_looks_like_a_feature_suggests_a_target(tmp_path):
    rows = "".join(f"{['x', 'y'][i % 2]},{i * 0.5}\n" for i in range(30))
    message = error(choose_columns, read_table(write(tmp_path, "kind,size\n" + rows)))
    assert "'size' looks like a feature" in message and "data.target: kind" in message
    rows = "".join(f"{['x', 'y'][i % 2]},{i}\n" for i in range(120))
    message = error(choose_columns, read_table(write(tmp_path, "kind,n\n" + rows, "many.csv")))
    assert "120 different values in 120 rows" in message and "data.target: kind" in message


def test_labels_sort_numerically_or_as_text_and_missing_ones_are_handled(tmp_path):
    table = read_table(write(tmp_path, "x,label\n1,10\n2,9\n3,NA\n4,10\n"))
    assert "line 4, column 'label'" in error(encode_labels, table, "label")
    labels = encode_labels(table, "label", missing="impute")
    assert labels.classes.tolist() == [9, 10] and labels.classes.dtype == np.int64
    assert labels.y.tolist() == [1, 0, 1] and labels.n_dropped == 1
    assert labels.kept.tolist() == [True, True, False, True]
    words = read_table(write(tmp_path, "x,label\n1,dog\n2,cat\n3,dog\n", "w.csv"))
    labels = encode_labels(words, "label")
    assert labels.classes.tolist() == ["cat", "dog"] and labels.y.tolist() == [1, 0, 1]


def test_labels_of_a_later_file_map_to_the_models_classes(tmp_path):
    words = read_table(write(tmp_path, "x,label\n1,dog\n2,cat\n", "words.csv"))
    labels = encode_labels(words, "label", classes=np.array(["ant", "cat", "dog"]))
    assert labels.y.tolist() == [2, 1]
    numbers = read_table(write(tmp_path, "x,label\n1,10\n2,9.0\n3,NA\n", "numbers.csv"))
    labels = encode_labels(numbers, "label", missing="impute", classes=np.array([9, 10]))
    assert labels.y.tolist() == [1, 0] and labels.n_dropped == 1
    codes = read_table(write(tmp_path, "x,label\n1,3\n2,3.0\n", "codes.csv"))  # numbers
    assert encode_labels(codes, "label", classes=np.array(["3", "x"])).y.tolist() == [0, 0]
    message = error(encode_labels, numbers, "label", missing="impute", classes=np.array([10, 11]))
    assert "line 3, column 'label': label '9.0' is not one of the model's classes" in message
    assert "line 2" in error(encode_labels, words, "label", classes=np.array([1, 2]))


def test_labels_beyond_two_to_the_53_are_called_too_large_not_fractional(tmp_path):
    big = 2**63 + 7
    rows = "".join(f"{i % 3}.5,{big + i % 2}\n" for i in range(6))
    message = error(choose_columns, read_table(write(tmp_path, "x,code\n" + rows)))
    assert "integers beyond 2^53" in message and "fractional" not in message


def test_an_id_like_integer_column_gets_a_note_and_stays_a_feature(tmp_path):
    rows = "".join(f"{100 + 3 * i},{i % 4}.5,{'ab'[i % 2]}\n" for i in range(12))
    roles = choose_columns(read_table(write(tmp_path, "case,x,y\n" + rows)))
    assert roles.features == ("case", "x")
    [note] = roles.notes
    assert "column 'case' holds 12 distinct integers" in note and "data.drop: [case]" in note


def test_the_other_categories_round_trip_and_damage_is_named(tmp_path):
    cells = "".join(f"{c},{i % 2}\n" for i, c in enumerate("aaaabbbcd"))
    table = read_table(write(tmp_path, "c,y\n" + cells))
    prep = Preprocessor.fit(table, ["c"], max_categories=3)
    arrays = prep.to_arrays()
    assert arrays["prep.other"].tolist() == ["c", "d"]
    back = Preprocessor.from_arrays(arrays)
    assert np.array_equal(back.transform(table), prep.transform(table))
    for damage in ({"prep.other_counts": np.array([3])}, {"prep.other": np.array([1.0, 2.0])}):
        with pytest.raises(DataError, match=r"^prep\.other"):
            Preprocessor.from_arrays({**arrays, **damage})
