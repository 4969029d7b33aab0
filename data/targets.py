"""A table's task (classification or regression) and a regression's numeric targets.

`task: auto` (the config's default) decides from the target column itself: regression only
when `data.target` names the column and it holds non-integer numbers. An integer column with
many values could be either (counts, years, prices in whole euros, or a code per class), so
that one stops and asks. A list of target columns (even of one) is a regression, with one
output per column.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from data.encoding import comma_text_reason
from data.errors import DataError
from data.table import Column, Table

TASKS = ("classification", "regression")
AUTO = "auto"
# `task: auto` on an integer-valued target with more distinct values than this asks for `task`.
MAX_AUTO_CLASSES = 20


def decide_task(table: Table, task: str, target: str | list[str] | tuple[str, ...] | None) -> str:
    """The task for `table`'s target as the settings name it (see the module's docstring)."""
    if task not in (AUTO, *TASKS):
        raise DataError(f"task: {task!r}; expected one of {AUTO}, {', '.join(TASKS)}")
    listed = target is not None and not isinstance(target, str)
    if listed:  # a list of target columns, even of one, is a regression's
        if task == "classification":
            raise DataError(
                f"task: classification takes one label column; data.target lists "
                f"{len(target)} ({', '.join(map(str, target))}): set task: regression"
            )
        return "regression"
    if task != AUTO:
        return task
    if target is None:  # the last column, as a label: today's rule
        return "classification"
    name = target if isinstance(target, str) else target[0]
    column = table.column(name)  # a DataError listing the columns if there is none
    if not column.is_numeric:
        if name in table.comma_text:  # numbers, with decimal commas: not words to classify
            raise DataError(
                f"{table.source}: {comma_text_reason(name)} (or set task: classification to "
                "take them as labels)"
            )
        _refuse_stray_text(table, column)
        return "classification"
    present = column.values[~column.missing]
    if not np.all(present == np.round(present)):
        return "regression"
    distinct = len(np.unique(present))
    if distinct > MAX_AUTO_CLASSES:
        raise DataError(
            f"{table.source}: column {name!r} holds {distinct} different whole numbers: "
            f"classes or quantities? set task: classification or task: regression"
        )
    return "classification"


# A text column whose cells are numbers but for a few (at most this share) is a numeric
# column with stray text ("n/a", "-"), not a column of labels.
STRAY_TEXT_SHARE = 0.1


def first_non_number(column: Column) -> int | None:
    """The row of a column's first present cell that does not read as a number, or None."""
    for row, cell in enumerate(column.text()):
        if column.missing[row]:
            continue
        try:
            float(cell.replace("_", "x"))  # Python reads 1_000; the table's reader does not
        except ValueError:
            return row
    return None


def _refuse_stray_text(table: Table, column: Column) -> None:
    """One line for a target of numbers with a few text cells, which `auto` would otherwise
    take as hundreds of classes: name the first such cell and the ways on."""
    cells = column.text()[~column.missing]
    numbers = 0
    for cell in cells:
        try:
            value = float(cell.replace("_", "x"))
        except ValueError:
            continue
        numbers += 1 if np.isfinite(value) else 0
    if len(cells) == 0 or numbers < (1 - STRAY_TEXT_SHARE) * len(cells) or numbers == len(cells):
        return
    row = first_non_number(column)
    raise DataError(
        f"{table.source}: line {table.lines[row]}, column {column.name!r}: "
        f"{str(column.text()[row])!r} is not a number, though {numbers} of its {len(cells)} "
        "cells are; empty the cell (a row without a target is left out), or set "
        "task: classification to take the column's values as labels"
    )


@dataclass(frozen=True)
class Targets:
    """A regression's target values of the rows kept, and which rows those are."""

    y: np.ndarray  # (n_kept, T) float64, in the targets' own units
    kept: np.ndarray  # (n_rows,) bool: rows whose every target cell holds a number
    n_dropped: int  # rows left out because a target cell was empty


def encode_targets(table: Table, names: tuple[str, ...]) -> Targets:
    """The named columns as an (n, T) float64 matrix of the rows whose targets are all present.

    A target cannot be imputed, so a row with an empty target cell is left out (and counted,
    for the note the caller shows). A column holding text is refused, naming its first cell
    that is not a number.
    """
    columns = [table.column(name) for name in names]
    for column in columns:
        if not column.is_numeric:
            _refuse_text(table, column)
    kept = np.ones(table.n_rows, dtype=bool)
    for column in columns:
        kept &= ~column.missing
    y = np.column_stack([column.values[kept] for column in columns]).astype(np.float64)
    if len(y) < 2:
        raise DataError(f"{table.source}: needs at least 2 rows with a target, found {len(y)}")
    for t, column in enumerate(columns):
        _refuse_constant(table, column.name, y[:, t])
    return Targets(y=y, kept=kept, n_dropped=int(table.n_rows - kept.sum()))


def _refuse_constant(table: Table, name: str, values: np.ndarray) -> None:
    """One line for a target that is the same number in every row: there is nothing to learn,
    and the squared error of predicting its mean, the scale of the loss, would be zero."""
    if np.all(values == values[0]):
        raise DataError(
            f"{table.source}: column {name!r} holds the same value ({values[0]:g}) in all "
            f"{len(values)} rows with a target; a regression needs a target that varies"
        )


def _refuse_text(table: Table, column: Column) -> None:
    """One line naming the first cell of a text column that is not a number."""
    row = first_non_number(column)
    if row is None:
        raise DataError(f"{table.source}: column {column.name!r} holds text, not numbers")
    fix = (
        "set data.decimal: ',' to read its decimal commas"
        if column.name in table.comma_text
        else "a regression's target holds numbers (or set task: classification)"
    )
    raise DataError(
        f"{table.source}: line {table.lines[row]}, column {column.name!r}: "
        f"{str(column.text()[row])!r} is not a number; {fix}"
    )
