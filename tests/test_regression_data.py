"""The data layer of a regression: choosing the task, reading numeric targets, the bundled
diabetes set and its cache, and plain (unstratified) seeded splits and folds.

Expected values come from the files as written here, from scikit-learn's own loader, and
from the sizes the rules state (ceil(fraction * n)), never from the code under test.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from data import (
    DATASETS,
    DataError,
    TableSettings,
    load_dataset,
    plain_folds,
    split_indices,
    stratified_folds,
)
from data.registry import _intact, _with_sha256
from data.targets import MAX_AUTO_CLASSES


def write(tmp_path: Path, text: str, name: str = "t.csv") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def refusal(source: str, **keys) -> str:
    with pytest.raises(DataError) as caught:
        load_dataset(source, TableSettings(**keys))
    message = str(caught.value)
    assert "\n" not in message
    return message


# -- which task ---------------------------------------------------------------------------------


def whole_numbers(tmp_path: Path, distinct: int) -> str:
    rows = "".join(f"{i * 0.5},{i % distinct}\n" for i in range(3 * distinct))
    return write(tmp_path, "x,count\n" + rows, f"count{distinct}.csv")


def test_an_integer_target_with_3_values_is_a_classification_of_3_classes(tmp_path):
    dataset = load_dataset(whole_numbers(tmp_path, 3), TableSettings(target="count"))
    assert dataset.task == "classification" and dataset.classes.tolist() == [0, 1, 2]
    assert dataset.y.dtype == np.int64 and dataset.y.shape == (9,)


def test_20_whole_numbers_are_still_classes_and_21_ask_for_the_task(tmp_path):
    assert MAX_AUTO_CLASSES == 20  # the number
    twenty = load_dataset(whole_numbers(tmp_path, 20), TableSettings(target="count"))
    assert twenty.task == "classification" and twenty.n_classes == 20
    message = refusal(whole_numbers(tmp_path, 21), target="count")
    assert "'count'" in message and "21 different whole numbers" in message
    assert "task: regression" in message and "task: classification" in message
    asked = load_dataset(
        whole_numbers(tmp_path, 21), TableSettings(target="count", task="classification")
    )
    assert asked.task == "classification" and asked.n_classes == 21


def test_a_float_target_that_is_named_is_a_regression_in_its_own_units(tmp_path):
    path = write(tmp_path, "a,b,price\n1,x,10.5\n2,y,12.25\n3,x,9.0\n")
    dataset = load_dataset(path, TableSettings(target="price"))
    assert dataset.task == "regression"
    assert dataset.y.dtype == np.float64 and dataset.y.tolist() == [[10.5], [12.25], [9.0]]
    assert dataset.classes.tolist() == ["price"] and dataset.classes.dtype.kind == "U"
    assert dataset.feature_names == ("a", "b") and dataset.n_classes == 1


def test_an_unset_target_keeps_the_last_column_rule(tmp_path):
    path = write(tmp_path, "kind,size\n" + "".join(f"{'ab'[i % 2]},{i}.5\n" for i in range(30)))
    message = refusal(path)  # today's message, unchanged
    assert "the last column 'size' looks like a feature" in message
    assert "data.target: kind" in message


def test_task_regression_with_the_target_unset_takes_the_last_column(tmp_path):
    # the last-column rule picks the column; its fractions are what a regression wants
    path = write(
        tmp_path, "kind,n,size\n" + "".join(f"{'ab'[i % 2]},{i},{i}.5\n" for i in range(30))
    )
    dataset = load_dataset(path, TableSettings(task="regression"))
    assert dataset.task == "regression" and dataset.classes.tolist() == ["size"]
    assert dataset.feature_names == ("kind", "n")
    assert dataset.y[:3].tolist() == [[0.5], [1.5], [2.5]]


def test_an_unknown_task_lists_the_three(tmp_path):
    path = write(tmp_path, "a,price\n1,2.5\n2,3.5\n")
    message = refusal(path, target="price", task="regresion")
    assert "task: 'regresion'" in message and "auto, classification, regression" in message


# -- several targets ---------------------------------------------------------------------------


def test_a_list_of_targets_is_a_regression_and_none_of_them_is_a_feature(tmp_path):
    text = "a,rent,b,price\n" + "".join(f"{i},{i}0.5,{i % 2},{i}00.25\n" for i in range(1, 6))
    dataset = load_dataset(write(tmp_path, text), TableSettings(target=["price", "rent"]))
    assert dataset.task == "regression" and dataset.feature_names == ("a", "b")
    assert dataset.classes.tolist() == ["price", "rent"]  # output t is target t, as listed
    assert dataset.y.tolist() == [[i * 100 + 0.25, i * 10 + 0.5] for i in range(1, 6)]


def test_a_list_even_of_one_column_is_a_regression_and_classification_refuses_it(tmp_path):
    # whole numbers with 2 values: `auto` would call a single name a classification
    path = write(tmp_path, "a,y\n" + "".join(f"{i}.5,{i % 2}\n" for i in range(8)))
    assert load_dataset(path, TableSettings(target=("y",))).task == "regression"
    assert load_dataset(path, TableSettings(target="y")).task == "classification"
    message = refusal(path, target=["y"], task="classification")
    assert (
        "task: classification takes one label column" in message and "task: regression" in message
    )


def test_a_target_named_twice_is_refused(tmp_path):
    path = write(tmp_path, "a,price\n1,2.5\n2,3.5\n")
    assert "data.target names column 'price' twice" in refusal(path, target=["price", "price"])


# -- bad targets ------------------------------------------------------------------------------


def test_a_text_target_names_its_first_word_not_a_missing_cell_before_it(tmp_path):
    path = write(tmp_path, "a,price\n1,2.5\n2,NA\n3,ask us\n4,n/a!\n")
    message = refusal(path, target="price", task="regression")
    assert message.startswith(f"{path}: line 4, column 'price': 'ask us' is not a number")


def test_decimal_commas_in_the_target_say_which_key_reads_them(tmp_path):
    text = 'a,price\n1,"2,5"\n2,"3,75"\n3,"4,0"\n'
    message = refusal(write(tmp_path, text), target="price", task="regression")
    assert "line 2, column 'price': '2,5' is not a number" in message
    assert "data.decimal: ','" in message
    dataset = load_dataset(
        write(tmp_path, text), TableSettings(target="price", task="regression", decimal=",")
    )
    assert dataset.y.ravel().tolist() == [2.5, 3.75, 4.0]


def test_auto_does_not_take_decimal_comma_numbers_for_class_labels(tmp_path):
    path = write(tmp_path, 'a,price\n1,"2,5"\n2,"3,75"\n3,"2,5"\n')
    message = refusal(path, target="price")
    assert "column 'price' was read as text because its numbers have decimal commas" in message
    assert "data.decimal: ','" in message and "task: classification" in message
    labels = load_dataset(path, TableSettings(target="price", task="classification"))
    assert labels.classes.tolist() == ["2,5", "3,75"]  # asked for: the texts are the classes
    assert load_dataset(path, TableSettings(target="price", decimal=",")).task == "regression"


def test_a_number_with_an_underscore_is_named_as_text(tmp_path):
    # Python's float() reads 1_000, pandas and the table reader do not: it is text here
    path = write(tmp_path, "a,price\n1,2.5\n2,1_000\n")
    message = refusal(path, target="price", task="regression")
    assert "line 3, column 'price': '1_000' is not a number" in message


def test_a_target_that_never_changes_is_refused_in_one_line(tmp_path):
    path = write(tmp_path, "a,price\n1,7.5\n2,7.5\n3,NA\n4,7.5\n")
    message = refusal(path, target="price", task="regression")
    assert "column 'price' holds the same value (7.5) in all 3 rows with a target" in message


def test_rows_missing_any_target_are_left_out_and_counted(tmp_path):
    text = "a,p,q\n1,1.5,10.5\n2,,20.5\n3,3.5,NA\n4,4.5,40.5\n5,5.5,50.5\n"
    # `missing: error` is about features: a target cannot be imputed, so its row goes
    dataset = load_dataset(write(tmp_path, text), TableSettings(target=["p", "q"]))
    assert dataset.y.tolist() == [[1.5, 10.5], [4.5, 40.5], [5.5, 50.5]]
    assert dataset.n_dropped == 2 and dataset.table.n_rows == 3
    assert dataset.table.lines.tolist() == [2, 5, 6]  # the file's lines of the rows kept
    assert "2 rows without a target value left out" in dataset.notes


# -- files as R and pandas write them ----------------------------------------------------------


def test_r_write_csv_with_a_float_target_reads_row_names_as_the_id(tmp_path):
    # R: write.csv(data.frame(size=..., town=..., price=...)), typed here as R writes it
    rows = [(52.3, "north", 1234.5), (71.0, "south", 2310.25), (40.5, "east", 980.75)]
    text = '"","size","town","price"\n' + "".join(
        f'"{i}",{size},"{town}",{price}\n' for i, (size, town, price) in enumerate(rows, 1)
    )
    dataset = load_dataset(write(tmp_path, text, "r.csv"), TableSettings(target="price"))
    assert dataset.task == "regression" and dataset.feature_names == ("size", "town")
    assert dataset.roles.id == "rownames"  # the unnamed first column: an id, no feature
    assert dataset.y.ravel().tolist() == [1234.5, 2310.25, 980.75]


def test_pandas_to_csv_with_a_float_target_leaves_its_index_out_of_the_features(tmp_path):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(
        {"size": [52.3, 71.0, 40.5, 66.6], "rooms": [2, 3, 1, 3], "price": [1.5, 2.75, 0.5, 2.0]}
    )
    path = tmp_path / "p.csv"
    frame.to_csv(path)  # the index first, under an empty name
    dataset = load_dataset(str(path), TableSettings(target="price"))
    assert dataset.task == "regression" and dataset.feature_names == ("size", "rooms")
    np.testing.assert_array_equal(dataset.y, frame[["price"]].to_numpy())


# -- the bundled diabetes set -------------------------------------------------------------------


def test_diabetes_is_scikit_learns_442_by_10_with_the_raw_target():
    from sklearn.datasets import load_diabetes

    reference = load_diabetes()  # scaled=True: the X that everyone's examples use
    diabetes = load_dataset("diabetes")
    info = DATASETS["diabetes"]
    assert (info.task, info.n_samples, info.n_features, info.n_classes) == (
        "regression",
        442,
        10,
        1,
    )
    assert diabetes.task == "regression" and diabetes.classes.tolist() == ["target"]
    assert diabetes.feature_names == tuple(reference.feature_names)
    assert diabetes.X.dtype == np.float64 and diabetes.y.dtype == np.float64
    np.testing.assert_array_equal(diabetes.X, reference.data)
    np.testing.assert_array_equal(diabetes.y, reference.target[:, None])
    assert diabetes.y.min() == 25 and diabetes.y.max() == 346  # progression, in its own units
    assert all(DATASETS[name].task == "classification" for name in DATASETS if name != "diabetes")


def test_a_bundled_set_refuses_the_other_task_by_the_task_key():
    message = refusal("diabetes", task="classification")
    assert message == "task: classification: diabetes is a regression set"
    assert load_dataset("diabetes", TableSettings(task="regression")).task == "regression"
    assert load_dataset("iris", TableSettings(task="classification")).task == "classification"


def test_the_cache_accepts_float_targets_and_refuses_them_in_any_other_shape():
    d = load_dataset("diabetes")
    arrays = {"X": d.X, "y": d.y, "classes": d.classes, "feature_names": np.array(d.feature_names)}
    assert _intact("diabetes", _with_sha256(arrays))
    flat, whole = d.y.ravel(), d.y.astype(np.int64)
    infinite = np.where(d.y > 300, np.inf, d.y)
    for y in (flat, whole, infinite):  # re-hashed: only the shape and type checks catch them
        assert not _intact("diabetes", _with_sha256({**arrays, "y": y}))


@pytest.mark.slow
def test_diabetes_comes_back_from_the_cache_without_scikit_learn(tmp_path, monkeypatch):
    monkeypatch.setenv("MLP_CACHE_DIR", str(tmp_path))
    fresh = load_dataset("diabetes")  # fills the empty cache
    code = (
        "import sys; sys.modules['sklearn'] = None\n"  # any import of it would now fail
        "from data import load_dataset\n"
        "d = load_dataset('diabetes')\n"
        "print(d.task, d.y.shape, d.y.dtype, repr(float(d.y.sum())), d.record['sha256'])\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    task, *_, total, sha = result.stdout.split()
    from sklearn.datasets import load_diabetes

    assert task == "regression" and "(442, 1)" in result.stdout and "float64" in result.stdout
    assert float(total) == float(load_diabetes().target.sum())
    assert sha == fresh.record["sha256"]


# -- plain splits and folds ----------------------------------------------------------------------


def plain(n: int, seed: int = 0, columns: int = 1, **sizes):
    return split_indices(
        np.zeros((n, columns)), rng=np.random.default_rng(seed), stratify=False, **sizes
    )


@given(
    n=st.integers(10, 400),  # enough that every part keeps a row
    test=st.sampled_from([0.0, 0.1, 0.2, 0.25, 0.5]),
    val=st.sampled_from([0.0, 0.1, 0.3]),
    seed=st.integers(0, 2**32 - 1),
)
@settings(max_examples=80, deadline=None)
def test_a_plain_split_holds_out_the_rounded_up_fraction_and_partitions_the_rows(
    n, test, val, seed
):
    parts = plain(n, seed, test_size=test, val_size=val)
    n_test = math.ceil(test * n)
    assert len(parts.test) == n_test and len(parts.val) == math.ceil(val * (n - n_test))
    together = np.concatenate([parts.train, parts.val, parts.test])
    assert sorted(together.tolist()) == list(range(n))  # disjoint, and every row once
    for rows in (parts.train, parts.val, parts.test):
        assert rows.dtype == np.int64 and (np.diff(rows) > 0).all()


def test_the_test_rows_are_those_of_the_smallest_random_keys():
    # the rule the docstring states, computed here from the same generator
    keys = np.random.default_rng(11).random(50)
    expected = np.sort(np.argsort(keys)[: math.ceil(0.2 * 50)])
    assert plain(50, 11, test_size=0.2, val_size=0.0).test.tolist() == expected.tolist()


def test_a_plain_split_depends_on_the_seed_and_the_row_count_only():
    first, again = (
        plain(120, 4, test_size=0.2, val_size=0.1),
        plain(120, 4, 3, test_size=0.2, val_size=0.1),
    )
    for name in ("train", "val", "test"):
        assert getattr(first, name).tolist() == getattr(again, name).tolist()
    other = plain(120, 5, test_size=0.2, val_size=0.1)
    assert first.test.tolist() != other.test.tolist()


def test_a_size_of_zero_draws_nothing_from_the_generator():
    rng = np.random.default_rng(3)
    parts = split_indices(np.zeros((9, 1)), test_size=0.0, val_size=0.0, rng=rng, stratify=False)
    assert parts.train.tolist() == list(range(9)) and len(parts.val) == len(parts.test) == 0
    assert rng.random() == np.random.default_rng(3).random()


def test_too_few_rows_for_a_plain_cut_name_the_size():
    with pytest.raises(DataError, match=r"test_size=0.5 of 1 samples leaves no row"):
        plain(1, test_size=0.5, val_size=0.0)
    with pytest.raises(DataError, match=r"val_size=0.5 of the 1 samples left after the test"):
        plain(2, test_size=0.5, val_size=0.5)
    with pytest.raises(DataError, match="nothing to split"):
        plain(0, test_size=0.5, val_size=0.0)


@given(n=st.integers(2, 200), k=st.integers(2, 10), seed=st.integers(0, 2**32 - 1))
@settings(max_examples=60, deadline=None)
def test_plain_folds_partition_the_rows_each_within_one_of_n_over_k(n, k, seed):
    if n < k:
        with pytest.raises(DataError, match=f"only {n} rows, fewer than the folds"):
            plain_folds(np.zeros((n, 1)), k, np.random.default_rng(seed))
        return
    folds = plain_folds(np.zeros((n, 2)), k, np.random.default_rng(seed))
    assert len(folds) == k and sorted(np.concatenate(folds).tolist()) == list(range(n))
    assert {len(fold) for fold in folds} <= {n // k, -(-n // k)}
    again = plain_folds(np.zeros((n, 2)), k, np.random.default_rng(seed))
    assert all(a.tolist() == b.tolist() for a, b in zip(folds, again))


@pytest.mark.parametrize("k", [1, 0, True, 2.0])
def test_plain_folds_refuse_a_k_that_is_not_an_integer_of_at_least_2(k):
    with pytest.raises(DataError, match="must be an integer of at least 2"):
        plain_folds(np.zeros((10, 1)), k, np.random.default_rng(0))


def test_mlp_datasets_lists_each_sets_task(mlp_cli):
    listing = mlp_cli("datasets", "--json")
    assert listing.exit_code == 0
    tasks = {row["name"]: row["task"] for row in json.loads(listing.stdout)["datasets"]}
    assert tasks == {name: info.task for name, info in DATASETS.items()}
    assert tasks["diabetes"] == "regression" and tasks["iris"] == "classification"
    table = mlp_cli("datasets").stdout
    [row] = [line for line in table.splitlines() if " diabetes " in line]  # inside borders
    assert "regression" in row and "442" in row
    detail = mlp_cli("datasets", "diabetes").stdout
    assert "targets (1): target" in detail


def test_a_classifications_split_and_folds_are_those_drawn_before_regression_came():
    # recorded from split_indices and stratified_folds at commit 2507c64, before `stratify`
    iris = load_dataset("iris").y
    parts = split_indices(iris, test_size=0.2, val_size=0.1, rng=np.random.default_rng(0))
    assert parts.test.tolist() == [
        2, 3, 11, 13, 15, 20, 21, 32, 46, 48, 53, 55, 59, 61, 62,
        66, 69, 88, 92, 96, 101, 108, 111, 113, 117, 119, 127, 128, 143, 146,
    ]  # fmt: skip
    assert parts.val.tolist() == [6, 8, 37, 40, 54, 71, 76, 87, 102, 121, 132, 145]
    folds = stratified_folds(load_dataset("wine").y, 5, np.random.default_rng(2))
    assert [fold[:4].tolist() for fold in folds] == [
        [10, 15, 17, 26], [0, 7, 11, 14], [2, 3, 8, 9], [1, 4, 6, 13], [5, 24, 29, 30],
    ]  # fmt: skip
