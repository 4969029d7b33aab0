"""What a model learns about a table's columns from its training rows, and applies later.

`choose_columns` says which column is the label, which is an id and which are features;
`encode_labels` turns the label column into class indices; `Preprocessor.fit` learns, from
the training rows only, each categorical column's categories and the numeric columns' means
and scales (and what fills a missing cell), and `Preprocessor.transform` applies them to any
rows (training, validation, test, or a file given to eval or predict) as scikit-learn's
ColumnTransformer of SimpleImputer, StandardScaler and OneHotEncoder(handle_unknown="ignore")
would. Everything learned exports to plain NumPy arrays, no pickle, for model.npz.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from data.errors import DataError
from data.prepare import fit_standardizer
from data.table import MISSING_MARKERS, Column, Table

MISSING_POLICIES = ("error", "impute")

# A categorical column is refused as an id or free text when it has more categories than
# this AND most of its values are unique; the floor keeps small files' columns legal.
CATEGORY_FLOOR = 20
# A default (last) label column looks like a feature when it has more classes than a tenth of
# the rows; below this many classes it never does, so small files are not refused.
LABEL_CLASS_FLOOR = 10
# The one-hot columns a categorical feature gets at most, "other" included, by default: as
# scikit-learn's OneHotEncoder(max_categories=...) counts them.
MAX_CATEGORIES = 50
# A numeric feature of distinct integers is named as a likely id from this many rows on.
ID_LIKE_FLOOR = 10
_ID_HINT = "set data.id: {name} (copied to predictions) or data.drop: [{name}]"

_FIX_MISSING = "set data.missing: impute to fill missing cells"


# -- which column is what -------------------------------------------------------------------


@dataclass(frozen=True)
class Roles:
    """The label column, the id column (or None) and the feature columns, in file order;
    `notes`: what the caller should tell the user about how the columns were chosen.
    `targets`: every target column of a regression with several (else just `target`)."""

    target: str
    id: str | None
    features: tuple[str, ...]
    notes: tuple[str, ...] = field(default=(), compare=False)
    targets: tuple[str, ...] = ()

    @property
    def target_columns(self) -> tuple[str, ...]:
        """The label column, or a regression's target columns."""
        return self.targets or (self.target,)


def choose_columns(
    table: Table,
    *,
    target: str | tuple[str, ...] | list[str] | None = None,
    drop: tuple[str, ...] | list[str] = (),
    id: str | None = None,  # the config key's name, though it hides the builtin
    check_label: bool = True,
) -> Roles:
    """Split `table`'s columns into label, id and features; `drop`ped columns are none of them.
    A list of `target` columns (a regression's) are all kept out of the features.

    With `target` None the label is the last column left, unless it looks like a feature
    (fractional numbers, or more classes than a tenth of the rows): then a DataError
    suggests `data.target: <a likely column>`; `check_label` False skips that test (a
    regression's target holds such numbers). Row names (`table.rownames`) are never a
    feature: unique, they are the id unless `id` names another column; else they are left out.
    """
    several = () if target is None or isinstance(target, str) else tuple(target)
    if several:
        target = several[0]
    twice = [name for i, name in enumerate(several) if name in several[:i]]
    if twice:
        raise DataError(f"{table.source}: data.target names column {twice[0]!r} twice")
    for key, names in (("data.drop", list(drop)), ("data.id", [id] if id else [])):
        for name in names:
            table.column(name)  # a DataError listing the columns if there is none
            if name == target or name in several:
                raise DataError(f"{table.source}: column {name!r} is both data.target and {key}")
    if id is not None and id in drop:
        raise DataError(f"{table.source}: column {id!r} is both data.id and data.drop")
    for name in several:
        table.column(name)
    id, drop, notes = _row_names(table, id, tuple(drop), target)
    drop = (*drop, *several[1:])  # a regression's other targets are no features either
    left = [name for name in table.names if name not in drop and name != id]
    if target is None:
        if not left:
            raise DataError(f"{table.source}: no column is left for the label")
        target = left[-1]
        if check_label:
            _check_default_label(table, table.column(target), left[:-1])
    else:
        table.column(target)  # a DataError listing the columns if there is none
    features = tuple(name for name in left if name != target)
    if not features:
        raise DataError(f"{table.source}: no feature columns are left besides {target!r}")
    notes += tuple(_id_like_notes(table, features))
    return Roles(target=target, id=id, features=features, notes=notes, targets=several)


def _row_names(
    table: Table, id: str | None, drop: tuple[str, ...], target: str | None
) -> tuple[str | None, tuple[str, ...], tuple[str, ...]]:
    """(id, drop, notes) with the table's row names taken as the id, or left out."""
    name = table.rownames
    if name is None or name in drop or name in (id, target):
        return id, drop, ()
    column = table.column(name)
    unique = not column.missing.any() and len(np.unique(column.values)) == len(column.values)
    if unique and id is None:
        return name, drop, ()
    why = "data.id names another column" if unique else "its values are not unique"
    note = f"the first column (no name in the header: row names) is left out: {why}"
    return id, (*drop, name), (note,)


def _id_like_notes(table: Table, features: tuple[str, ...]) -> list[str]:
    """One line per numeric feature whose values are all distinct integers (row numbers,
    sample codes): it still trains, but it is more likely an id than a feature."""
    notes = []
    for name in features:
        column = table.column(name)
        present = column.values[~column.missing]
        if not column.is_numeric or len(present) < ID_LIKE_FLOOR or not _is_integral(present):
            continue
        if len(np.unique(present)) == len(present):
            notes.append(
                f"column {name!r} holds {len(present)} distinct integers, like an id; it is "
                f"trained on as a feature: {_ID_HINT.format(name=name)}"
            )
    return notes


def _is_integral(values: np.ndarray) -> bool:
    return bool(np.all(values == np.round(values)) and np.all(np.abs(values) < 2.0**53))


def _label_like(column: Column, n_rows: int) -> str | None:
    """Why `column` looks like a feature rather than a label, or None if it does not."""
    present = column.values[~column.missing]
    if column.is_numeric and not np.all(present == np.round(present)):
        return "it holds fractional numbers"
    if column.is_numeric and not _is_integral(present):
        return "it holds integers beyond 2^53, which a float cannot keep exact"
    k = len(np.unique(present))
    if k > max(n_rows / 10, LABEL_CLASS_FLOOR):
        return f"it has {k} different values in {n_rows} rows"
    return None


def _check_default_label(table: Table, last: Column, others: list[str]) -> None:
    why = _label_like(last, table.n_rows)
    if why is None:
        return
    likely = [
        name
        for name in others
        if _label_like(column := table.column(name), table.n_rows) is None
        and len(np.unique(column.values[~column.missing])) >= 2
    ]
    likely.sort(key=lambda name: table.column(name).is_numeric)  # text first: `species`
    fix = f"data.target: {likely[0]}" if likely else "data.target: <the label column>"
    raise DataError(
        f"{table.source}: the last column {last.name!r} looks like a feature, not a label "
        f"({why}); set {fix} (or task: regression to predict {last.name!r} itself)"
    )


# -- the labels ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Labels:
    """Class indices of the rows kept, the original label of each index, and what was left."""

    y: np.ndarray  # (n_kept,) int64 class indices into `classes`
    classes: np.ndarray  # (K,) sorted: int64 if every label is an integer, else float64 or str
    kept: np.ndarray  # (n_rows,) bool: rows whose label is present
    n_dropped: int  # rows left out because their label was missing (missing: impute)


def encode_labels(
    table: Table, target: str, *, missing: str = "error", classes: np.ndarray | None = None
) -> Labels:
    """The label column as class indices in sorted order (numbers numerically).

    A missing label is refused naming its line with `missing="error"`; with "impute" its row
    is left out (and counted), since a label cannot be guessed. With `classes` (a model's,
    for eval) the labels are matched to those, and one the model does not know is refused.
    """
    _check_policy(missing)
    column = table.column(target)
    if column.missing.any() and missing == "error":
        at = int(np.argmax(column.missing))
        raise DataError(
            f"{table.source}: line {table.lines[at]}, column {target!r}: the label is missing; "
            "set data.missing: impute to leave such rows out"
        )
    kept = ~column.missing
    n_dropped = int((~kept).sum())
    if classes is not None:
        return Labels(_known(table, column, kept, classes), classes, kept, n_dropped)
    if column.is_numeric:
        labels = column.values[kept]
        if _is_integral(labels):
            labels = labels.astype(np.int64)
    else:
        labels = column.levels[column.values[kept]]
    found, y = np.unique(labels, return_inverse=True)
    if len(found) < 2:
        shown = f" {found.tolist()[0]!r}" if len(found) else ""
        raise DataError(
            f"{table.source}: only {len(found)} class{shown} in column {target!r}; "
            "a classifier needs at least 2"
        )
    return Labels(y=y.astype(np.int64), classes=found, kept=kept, n_dropped=n_dropped)


def _known(table: Table, column: Column, kept: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Indices of the kept labels in a model's sorted `classes`; a DataError if one is new."""
    if classes.dtype.kind == "U":
        levels, codes = as_categories(column)  # numbers as text: 3.0 as "3"
        labels, sorted_classes = levels[codes[kept]], classes
    elif column.is_numeric:
        labels, sorted_classes = column.values[kept], classes.astype(np.float64)
    else:  # words where the model has numbers: the first is unknown
        labels, sorted_classes = column.levels[column.values[kept]], None
    if sorted_classes is None or len(labels) == 0:
        index, known = np.zeros(len(labels), dtype=np.int64), np.full(len(labels), False)
        known[:] = sorted_classes is not None
    else:
        index = np.minimum(np.searchsorted(sorted_classes, labels), len(classes) - 1)
        known = sorted_classes[index] == labels
    if not known.all():
        first = int(np.argmin(known))
        at = int(np.flatnonzero(kept)[first])
        shown = ", ".join(map(str, classes.tolist()[:10]))
        raise DataError(
            f"{table.source}: line {table.lines[at]}, column {column.name!r}: label "
            f"{str(labels[first])!r} is not one of the model's classes ({shown})"
        )
    return index.astype(np.int64)


def _check_policy(missing: str) -> None:
    if missing not in MISSING_POLICIES:
        raise DataError(f"data.missing: {missing!r}; expected one of {', '.join(MISSING_POLICIES)}")


# -- the features ---------------------------------------------------------------------------


def as_categories(column: Column) -> tuple[np.ndarray, np.ndarray]:
    """(sorted distinct texts, code per row; -1 where missing) of a text or numeric column.

    Numbers become text as written shortest: 3.0 as "3", 0.1 as "0.1".
    """
    if not column.is_numeric:
        return column.levels, column.values
    unique, codes = np.unique(column.values[~column.missing], return_inverse=True)
    shown = [str(int(v)) if float(v).is_integer() else repr(float(v)) for v in unique]
    levels = np.array(shown, dtype=str).reshape(-1)
    order = np.argsort(levels, kind="stable")  # as text, "10" sorts before "9"
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    every = np.full(len(column.values), -1, dtype=np.int64)
    every[~column.missing] = rank[codes]
    return levels[order], every


@dataclass(frozen=True)
class Encoded:
    """A transformed table: the feature matrix and, per categorical column, unseen cells."""

    X: np.ndarray  # (n_rows, n_features) float64
    unseen: dict[str, int]  # column -> cells whose category the training rows did not have


@dataclass(frozen=True)
class Preprocessor:
    """Per feature column, what was learned from the training rows.

    Numeric columns: the mean that fills a missing cell, then z = (x - mean) / scale, scale
    being the population std of the filled column (1 for a constant one). Categorical ones:
    the sorted categories (one 0/1 column each; an unseen category is all zeros) and the most
    frequent one, which fills a missing cell. Columns keep their file order.
    """

    columns: tuple[str, ...]
    categorical: tuple[bool, ...]
    missing: str  # "error" or "impute"
    mean: np.ndarray  # (n_numeric,) float64
    scale: np.ndarray  # (n_numeric,) float64
    categories: tuple[np.ndarray, ...]  # one sorted 'U' array per categorical column
    fill: np.ndarray  # (n_categorical,) 'U': the most frequent training category
    standardize: bool = True  # False: numeric columns are only filled, not centred and scaled
    # per categorical column, the sorted infrequent categories that share its last, "other"
    # column (empty: the column has none); () for a model saved before data.max_categories
    other: tuple[np.ndarray, ...] = ()
    notes: tuple[str, ...] = field(default=(), compare=False)  # for the user; not saved

    @classmethod
    def fit(
        cls,
        table: Table,
        features: tuple[str, ...] | list[str],
        *,
        categorical: str | tuple[str, ...] | list[str] = "auto",
        missing: str = "error",
        standardize: bool = True,
        max_categories: int = MAX_CATEGORIES,
    ) -> Preprocessor:
        """Learn from `table`, which must hold the training rows only.

        `categorical` is "auto" (every text column) or a list of names, which may include
        numeric columns whose numbers are codes. A column that is not numeric is categorical
        either way. `missing` is "error" (refuse a missing cell) or "impute". A categorical
        column gets at most `max_categories` one-hot columns: with more categories, the
        `max_categories - 1` most frequent keep one each and the rest share an "other" one.
        """
        _check_policy(missing)
        if categorical != "auto":
            for name in categorical:
                if name not in features:
                    raise DataError(
                        f"{table.source}: data.categorical names {name!r}, "
                        "which is not a feature column"
                    )
        flags, means, scales, categories, fills, others, notes = [], [], [], [], [], [], []
        for name in features:
            column = table.column(name)
            if missing == "error":
                refuse_missing(table, column)
            is_categorical = not column.is_numeric or (
                categorical != "auto" and name in categorical
            )
            flags.append(is_categorical)
            if is_categorical:
                found, fill, counts = _fit_categories(table, column)
                kept, other = _cap_categories(found, counts, max_categories)
                categories.append(kept)
                others.append(other)
                fills.append(fill)
                if len(other):
                    notes.append(_capped_note(name, len(found), len(kept), max_categories))
            else:
                mean, scale = _fit_numeric(table, column)
                means.append(mean)
                scales.append(scale)
        return cls(
            columns=tuple(features),
            categorical=tuple(flags),
            missing=missing,
            mean=np.array(means, dtype=np.float64),
            scale=np.array(scales, dtype=np.float64),
            categories=tuple(categories),
            fill=np.array(fills, dtype=str),
            standardize=standardize,
            other=tuple(others),
            notes=tuple(notes),
        )

    def others(self, i: int) -> np.ndarray:
        """The infrequent categories of categorical column `i`, sharing its "other" column."""
        return self.other[i] if self.other else np.array([], dtype=str)

    def one_hot_width(self, i: int) -> int:
        """One-hot columns of categorical column `i`: its categories, and "other" if any."""
        return len(self.categories[i]) + (len(self.others(i)) > 0)

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The encoded columns' names: a numeric column's own, `name=category` for one-hot,
        and `name=(other)` for the column the infrequent categories share."""
        names: list[str] = []
        i_cat = 0
        for name, is_categorical in zip(self.columns, self.categorical):
            if is_categorical:
                names.extend(f"{name}={category}" for category in self.categories[i_cat])
                if len(self.others(i_cat)):
                    names.append(f"{name}=(other)")
                i_cat += 1
            else:
                names.append(name)
        return tuple(names)

    @property
    def n_features(self) -> int:
        """Columns of the encoded matrix."""
        return len(self.mean) + sum(map(self.one_hot_width, range(len(self.categories))))

    def describe(self) -> str:
        """One line for the train header, e.g. `4 numeric, island -> 3 one-hot columns`."""
        n_numeric = len(self.mean)
        parts = [f"{n_numeric} numeric"] if n_numeric else []
        i_cat = 0
        for name, is_categorical in zip(self.columns, self.categorical):
            if is_categorical:
                parts.append(f"{name} -> {self.one_hot_width(i_cat)} one-hot columns")
                i_cat += 1
        return ", ".join(parts) + f" ({self.n_features} features)"

    def transform(self, table: Table) -> np.ndarray:
        """The float64 feature matrix of `table`'s rows."""
        return self.encode(table).X

    def encode(self, table: Table) -> Encoded:
        """The feature matrix of `table`'s rows, and how many cells had unseen categories.

        The table needs every feature column (others, such as an id or the label, are left
        alone); a missing cell is refused or filled as at fit time.
        """
        absent = [name for name in self.columns if not table.has(name)]
        if absent:
            shown = ", ".join(repr(name) for name in absent[:5])
            more = f" and {len(absent) - 5} more" if len(absent) > 5 else ""
            raise DataError(f"{table.source}: missing the model's feature column(s) {shown}{more}")
        if self.missing == "error":
            self._refuse_missing_rows(table)
        # built transposed, so that each column is written contiguously, then copied to rows
        XT = np.zeros((self.n_features, table.n_rows))
        unseen: dict[str, int] = {}
        at, i_num, i_cat = 0, 0, 0
        for name, is_categorical in zip(self.columns, self.categorical):
            column = table.column(name)
            if is_categorical:
                categories = self.categories[i_cat]
                index = _category_index(column, categories, self.fill[i_cat], self.others(i_cat))
                hit = index >= 0
                XT[at + index[hit], np.flatnonzero(hit)] = 1.0
                if not hit.all():
                    unseen[name] = int((~hit).sum())
                at, i_cat = at + self.one_hot_width(i_cat), i_cat + 1
            else:
                values = _numbers(table, column)
                mean, scale = self.mean[i_num], self.scale[i_num]
                filled = np.where(column.missing, mean, values)
                XT[at] = (filled - mean) / scale if self.standardize else filled
                at, i_num = at + 1, i_num + 1
        return Encoded(X=np.ascontiguousarray(XT.T), unseen=unseen)

    def _refuse_missing_rows(self, table: Table) -> None:
        """A model fitted under `missing: error` learned no fill values: one line saying how
        many rows have a missing feature cell, and where the first one is."""
        missing = np.zeros(table.n_rows, dtype=bool)
        for name in self.columns:
            missing |= table.column(name).missing
        if not missing.any():
            return
        first = int(np.argmax(missing))
        where = next(n for n in self.columns if table.column(n).missing[first])
        raise DataError(
            f"{table.source}: {int(missing.sum())} row(s) have missing cells, the first on line "
            f"{table.lines[first]} (column {where!r}); this run was trained with data.missing: "
            "error and cannot score them; a run trained with data.missing: impute can"
        )

    def to_arrays(self, prefix: str = "prep.") -> dict[str, np.ndarray]:
        """Everything learned as plain arrays (no object dtype), keys starting with `prefix`."""
        counts = np.array([len(c) for c in self.categories], dtype=np.int64)
        every = np.concatenate(self.categories) if self.categories else np.array([], dtype=str)
        arrays = {
            "columns": np.array(self.columns, dtype=str),
            "categorical": np.array(self.categorical, dtype=bool),
            "missing": np.array(self.missing, dtype=str),
            "mean": self.mean,
            "scale": self.scale,
            "categories": every.astype(str),
            "category_counts": counts,
            "fill": self.fill.astype(str),
            "standardize": np.array([self.standardize]),
        }
        if any(len(other) for other in self.other):  # only then, so older readers still read it
            arrays["other"] = np.concatenate(self.other).astype(str)
            arrays["other_counts"] = np.array([len(o) for o in self.other], dtype=np.int64)
        return {prefix + key: value for key, value in arrays.items()}

    @classmethod
    def from_arrays(cls, arrays, prefix: str = "prep.") -> Preprocessor:
        """The Preprocessor that `to_arrays(prefix)` exported (from a dict or an NpzFile); a
        DataError naming the member where the arrays do not fit together (a damaged file)."""
        _check_stored(arrays, prefix)
        every = arrays[prefix + "categories"]
        bounds = np.cumsum(arrays[prefix + "category_counts"])[:-1]
        counts = arrays[prefix + "category_counts"]
        return cls(
            columns=tuple(str(name) for name in arrays[prefix + "columns"]),
            categorical=tuple(bool(flag) for flag in arrays[prefix + "categorical"]),
            missing=str(arrays[prefix + "missing"]),
            mean=np.asarray(arrays[prefix + "mean"], dtype=np.float64),
            scale=np.asarray(arrays[prefix + "scale"], dtype=np.float64),
            categories=tuple(np.split(every, bounds)) if len(counts) else (),
            fill=np.asarray(arrays[prefix + "fill"]).astype(str),
            standardize=bool(np.asarray(arrays.get(prefix + "standardize", [True]))[0]),
            other=_split_other(arrays, prefix),
        )


def one_hot_lookup(prep: Preprocessor, i: int) -> tuple[list[str], list[int]]:
    """Categorical column `i`'s text -> one-hot column, as `transform` applies it: each
    category's own, "other"'s for an infrequent one, and the most frequent category's for a
    missing cell (each of MISSING_MARKERS, "" included); any other text is unseen (-1)."""
    known = np.concatenate([prep.categories[i], prep.others(i)])
    index = _one_hot_index(known, prep.categories[i], prep.others(i))
    fill = int(_one_hot_index(np.array([prep.fill[i]]), prep.categories[i], prep.others(i))[0])
    markers = [m for m in MISSING_MARKERS if m not in set(known.tolist())]
    return known.tolist() + markers, index.tolist() + [fill] * len(markers)


def _split_other(arrays, prefix: str) -> tuple[np.ndarray, ...]:
    """The infrequent categories of each categorical column, () when none were stored."""
    if prefix + "other_counts" not in arrays:
        return ()
    counts = np.asarray(arrays[prefix + "other_counts"], dtype=np.int64)
    every = np.asarray(arrays[prefix + "other"]).astype(str)
    return tuple(np.split(every, np.cumsum(counts)[:-1]))


_STORED_KINDS = {  # what to_arrays writes: member -> the dtype kinds it may have
    "columns": "U",
    "categorical": "b",
    "missing": "U",
    "mean": "fiu",
    "scale": "fiu",
    "categories": "U",
    "category_counts": "iu",
    "fill": "U",
    "other": "U",
    "other_counts": "iu",
}


def _check_stored(arrays, prefix: str) -> None:
    """Refuse stored preprocessing arrays that do not describe one Preprocessor: every member
    present with its dtype, and their lengths, counts and values consistent with each other."""

    def member(key: str) -> np.ndarray:
        if prefix + key not in arrays:
            raise DataError(f"{prefix}{key} is missing")
        value = np.asarray(arrays[prefix + key])
        if value.dtype.kind not in _STORED_KINDS.get(key, "b"):
            raise DataError(f"{prefix}{key} has the wrong type ({value.dtype})")
        return value.reshape(-1)

    def fail(key: str, problem: str) -> DataError:
        return DataError(f"{prefix}{key} {problem}")

    columns, categorical = member("columns"), member("categorical")
    n_categorical = int(categorical.sum())
    if len(categorical) != len(columns):
        raise fail("categorical", f"has {len(categorical)} flags for {len(columns)} columns")
    if len(set(columns.tolist())) != len(columns):
        raise fail("columns", "names a column twice")
    if member("missing").tolist() not in (["error"], ["impute"]):
        raise fail("missing", "must be 'error' or 'impute'")
    for key in ("mean", "scale"):
        value = member(key)
        if len(value) != len(columns) - n_categorical:
            n_numeric = len(columns) - n_categorical
            raise fail(key, f"has {len(value)} entries for {n_numeric} numeric columns")
        if not np.isfinite(value).all() or (key == "scale" and (value <= 0).any()):
            raise fail(key, "must be finite" + (" and positive" if key == "scale" else ""))
    counts, every, fill = member("category_counts"), member("categories"), member("fill")
    if len(counts) != n_categorical:
        raise fail("category_counts", f"has {len(counts)} counts for {n_categorical} columns")
    if (counts < 1).any() or counts.sum() != len(every):
        raise fail("category_counts", f"must be >= 1 and sum to the {len(every)} categories")
    if len(fill) != n_categorical:
        raise fail("fill", f"has {len(fill)} entries for {n_categorical} categorical columns")
    others = [np.array([], dtype=str)] * n_categorical
    if prefix + "other" in arrays or prefix + "other_counts" in arrays:  # data.max_categories
        other, other_counts = member("other"), member("other_counts")
        if len(other_counts) != n_categorical or (other_counts < 0).any():
            raise fail("other_counts", f"must give {n_categorical} counts >= 0")
        if other_counts.sum() != len(other):
            raise fail("other_counts", f"must sum to the {len(other)} infrequent categories")
        others = np.split(other, np.cumsum(other_counts)[:-1])
        for group in others:
            if (group[1:] <= group[:-1]).any():  # searched with np.searchsorted too
                raise fail("other", "must list each column's categories sorted, once each")
    for group, rest, filled in zip(np.split(every, np.cumsum(counts)[:-1]), others, fill):
        if (group[1:] <= group[:-1]).any():  # searched with np.searchsorted when encoding
            raise fail("categories", "must list each column's categories sorted, once each")
        if filled not in group and filled not in rest:
            raise fail("fill", f"names {str(filled)!r}, which is not one of its categories")
    if prefix + "standardize" in arrays and member("standardize").shape != (1,):
        raise fail("standardize", "must be one flag")


def _category_index(
    column: Column, categories: np.ndarray, fill: str, other: np.ndarray | None = None
) -> np.ndarray:
    """Per row, the index of its category in `categories`, len(categories) (the "other"
    column) for one of the infrequent `other`, -1 if unseen. Missing: `fill`'s."""
    levels, codes = as_categories(column)
    # matched once per distinct text, then looked up per row
    per_level = _one_hot_index(levels, categories, other)
    fill_index = int(_one_hot_index(np.array([fill]), categories, other)[0])
    if len(levels) == 0:
        return np.full(len(codes), fill_index)
    return np.where(codes < 0, fill_index, per_level[np.maximum(codes, 0)])


def _one_hot_index(
    texts: np.ndarray, categories: np.ndarray, other: np.ndarray | None
) -> np.ndarray:
    """The one-hot column of each text: its category's, "other"'s, or -1 when unseen."""
    index = np.where(_member(texts, categories), np.searchsorted(categories, texts), -1)
    if other is not None and len(other):
        index[_member(texts, other)] = len(categories)
    return index


def _member(texts: np.ndarray, sorted_texts: np.ndarray) -> np.ndarray:
    """Whether each of `texts` is in `sorted_texts`, by binary search."""
    index = np.searchsorted(sorted_texts, texts)
    found = index < len(sorted_texts)
    found[found] = sorted_texts[index[found]] == texts[found]
    return found


def refuse_missing(table: Table, column: Column) -> None:
    if column.missing.any():
        at = int(np.argmax(column.missing))
        raise DataError(
            f"{table.source}: line {table.lines[at]}, column {column.name!r}: the cell is "
            f"missing; {_FIX_MISSING}"
        )


def _present(table: Table, column: Column) -> np.ndarray:
    present = column.values[~column.missing]
    if len(present) == 0:
        raise DataError(
            f"{table.source}: column {column.name!r} has no values in the training rows; "
            f"leave it out with data.drop: [{column.name}]"
        )
    return present


def _fit_numeric(table: Table, column: Column) -> tuple[float, float]:
    present = _present(table, column)
    filled = np.where(column.missing, present.mean(), column.values)
    # the filled column's mean and population std, as SimpleImputer then StandardScaler compute
    # them, by the one standardizer of bundled sets and tables alike (near-constant: scale 1)
    mean, scale = fit_standardizer(filled[:, None])
    return float(mean[0]), float(scale[0])


def _fit_categories(table: Table, column: Column) -> tuple[np.ndarray, str, np.ndarray]:
    """(sorted categories, the most frequent one, each category's count)."""
    levels, codes = as_categories(column)
    counts = np.bincount(codes[codes >= 0], minlength=len(levels))
    if counts.sum() == 0:
        _present(table, column)  # raises: no values
    categories = levels[counts > 0]
    n_present = int(counts.sum())
    if len(categories) > CATEGORY_FLOOR and len(categories) > n_present / 2:
        if column.name in table.comma_text:
            raise DataError(f"{table.source}: {comma_text_reason(column.name)}")
        raise DataError(
            f"{table.source}: column {column.name!r} has {len(categories)} different values "
            f"in {n_present} rows, too many to be categories (an id or free text?); "
            f"leave it out with data.drop: [{column.name}] or make it data.id: {column.name}"
        )
    # the most frequent category; levels are sorted, so argmax takes the first of a tie
    return categories, str(levels[np.argmax(counts)]), counts[counts > 0]


def comma_text_reason(name: str) -> str:
    """Why a column of numbers written with decimal commas was read as text, and the fix."""
    return (
        f"column {name!r} was read as text because its numbers have decimal commas (4,5); "
        "set data.decimal: ',' to read them as numbers"
    )


def _cap_categories(
    categories: np.ndarray, counts: np.ndarray, max_categories: int
) -> tuple[np.ndarray, np.ndarray]:
    """(kept, other): sorted categories keeping a column each, and those sharing "other".

    scikit-learn's OneHotEncoder(max_categories=m) rule: it counts the "other" column as if
    it were always there, so from m categories on, the m - 1 most frequent are kept, found
    with a stable sort of the counts (so of two equally frequent ones, the later in sorted
    order is kept), and "other" is the m-th column.
    """
    if len(categories) + 1 <= max_categories:
        return categories, np.array([], dtype=str)
    infrequent = np.zeros(len(categories), dtype=bool)
    infrequent[np.argsort(counts, kind="stable")[: len(categories) - (max_categories - 1)]] = True
    return categories[~infrequent], categories[infrequent]


def _capped_note(name: str, n_found: int, n_kept: int, max_categories: int) -> str:
    return (
        f"column {name!r} has {n_found} categories: the {n_kept} most frequent keep a one-hot "
        f"column each and the other {n_found - n_kept} share one (data.max_categories: "
        f"{max_categories}); if it is an id, {_ID_HINT.format(name=name)}"
    )


def _numbers(table: Table, column: Column) -> np.ndarray:
    """A numeric feature's values; a DataError naming the first cell that is not a number."""
    if column.is_numeric:
        return column.values
    text = column.text()
    for at in np.flatnonzero(~column.missing):  # only to name the culprit: the table said text
        try:
            float(text[at])
        except ValueError:
            break
    raise DataError(
        f"{table.source}: line {table.lines[at]}, column {column.name!r}: "
        f"{str(text[at])!r} is not a number, as the column was when fitted"
    )
