"""Rich output for people at a terminal; plain when piped (Rich drops colour and bars itself).

Tables never cut a number or a name short: each one is shown through `fitted`, which prints
the table when every cell fits the console whole, and otherwise one `column: value` line per
cell, lines that are never broken (a terminal wraps them; a pipe keeps them whole).

Names, labels, paths and values are data, never markup: the consoles of cli/output.py read no
markup, and the few styled cells here are Text objects with a style.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
from rich import box
from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.measure import Measurement
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from mlp import ArrayCheck, EpochReport
from mlp.diagnostics import FIGURES

WIDE = 100_000  # wider than any table, to measure one unclamped
MAX_EPOCH_ROWS = 20  # longer runs show an evenly thinned selection of epochs, always the last
# How a score is headed: short in per-epoch tables, whole in result tables (a classifier's
# accuracy, a regression's R² with its RMSE and MAE).
SCORE_LABELS = {"accuracy": "acc", "r2": "R²"}
FIGURE_HEADERS = {"accuracy": "accuracy", "r2": "R²", "rmse": "RMSE", "mae": "MAE"}


def fmt(value: float | None, digits: int = 4) -> str:
    """A number for a table cell; '-' where there is none."""
    return "-" if value is None else f"{value:.{digits}f}"


class Fitted:
    """A table that, where the console is too narrow for any of its cells to stay whole,
    shows its rows as `column: value` lines instead (see `fitted`)."""

    def __init__(self, table: Table) -> None:
        self.table = table

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for table in (self.table, compact(self.table)):
            laid_out = _laid_out(console, options, table)
            if laid_out is not None:
                yield laid_out
                return
        yield from self.lines(console)

    def lines(self, console: Console) -> list[Text]:
        """The title, then per row its first cell and one indented `column: value` line per
        other cell; a grid without headers gives one `key: value` line per row."""
        table = self.table
        columns = [(str(c.header), list(c.cells)) for c in table.columns]
        lines = [_unbroken(Text(str(table.title), style="bold"))] if table.title else []
        for i in range(table.row_count):
            cells = [_text(console, cells[i]) for _, cells in columns]
            if not table.show_header:
                lines.append(_unbroken(Text(": ").join(cells)))
                continue
            for j, ((header, _), cell) in enumerate(zip(columns, cells)):
                label = Text(("  " if j else "") + (f"{header}: " if header else ""))
                lines.append(_unbroken(label.append_text(cell)))
        return lines


def _text(console: Console, cell: object) -> Text:
    """A cell as Text (a string read as markup only where the console reads markup)."""
    if isinstance(cell, Text):
        return cell.copy()
    return console.render_str(cell) if isinstance(cell, str) else Text(str(cell))


def _laid_out(console: Console, options: ConsoleOptions, table: Table) -> Table | None:
    """`table` with column widths that keep every word of every cell whole within the width,
    or None where even its narrowest layout is too wide.

    Rich, short of room, narrows the widest columns first, below the longest word of a cell if
    need be (then it folds or cuts it); here each column gets at least its longest word, and
    the room left goes to the columns that need the least more to show in one line.
    """
    unclamped = options.update(max_width=WIDE)  # measure whole cells, not cut to the width
    ranges = [table._measure_column(console, unclamped, c) for c in table.columns]
    # a no_wrap column cannot take less than its longest cell without cutting it
    ranges = [
        Measurement(r.maximum, r.maximum) if c.no_wrap else r for r, c in zip(ranges, table.columns)
    ]
    room = options.max_width - table._extra_width
    if sum(r.maximum for r in ranges) <= room:
        return table
    widths = [r.minimum for r in ranges]
    if sum(widths) > room:
        return None
    spare = room - sum(widths)
    for i in sorted(range(len(ranges)), key=lambda i: ranges[i].maximum - ranges[i].minimum):
        more = min(spare, ranges[i].maximum - widths[i])
        widths[i], spare = widths[i] + more, spare - more
    fixed = copy.copy(table)
    fixed.columns = [copy.copy(c) for c in table.columns]
    for i, column in enumerate(fixed.columns):
        column.width = widths[i] - table._get_padding_width(i)
    return fixed


def compact(table: Table) -> Table:
    """`table` without vertical rules or edges, one space between columns: about three
    characters a column narrower."""
    narrow = copy.copy(table)
    narrow.box, narrow.show_edge, narrow.pad_edge = box.SIMPLE_HEAD, False, False
    narrow.padding, narrow.collapse_padding = (0, 1, 0, 0), True
    return narrow


def _unbroken(text: Text) -> Text:
    """A line Rich neither wraps nor crops."""
    text.no_wrap, text.overflow, text.end = True, "ignore", "\n"
    return text


def fitted(table: Table) -> RenderableType:
    """`table` where every cell fits whole, else its rows as `column: value` lines."""
    return Fitted(table)


def key_value_grid(rows: Sequence[tuple[str, str]]) -> RenderableType:
    """A borderless two-column grid of bold keys and plain values (`key: value` lines where
    the console is too narrow for a word of a value, such as a path, to stay whole)."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    for key, value in rows:
        grid.add_row(key, value)
    return fitted(grid)


def epoch_progress(console: Console) -> Progress:
    """A progress bar over epochs with the latest loss and accuracy; off when not a terminal."""
    return Progress(
        TextColumn("epoch {task.completed}/{task.total}", markup=False),
        BarColumn(),
        TextColumn("{task.fields[latest]}", markup=False),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )


def count_progress(console: Console, noun: str) -> Progress:
    """A progress bar counting finished items (`noun`: points, folds); off when not a terminal."""
    return Progress(
        TextColumn(f"{{task.completed}}/{{task.total}} {noun}", markup=False),
        BarColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )


def cv_table(result: dict) -> RenderableType:
    """Each fold's held-out rows, test score (accuracy, or R²) and loss, then their mean +-
    std."""
    table = Table(title="Cross-validation (each fold's held-out rows)", title_justify="left")
    score = result.get("score", "accuracy")
    for name in ("fold", "n", FIGURE_HEADERS[score], "loss", "epochs"):
        table.add_column(name, justify="right")
    table.add_column("status")
    for r in result["folds"]:
        status = r["status"] + (f": {r['error']}" if r.get("error") else "")
        figures = (fmt(r.get(score)), fmt(r["loss"]), str(r["epochs"]))
        table.add_row(str(r["fold"]), str(r["n"]), *figures, status)
    if result["mean"] is not None:
        table.add_section()
        mean = f"{result['mean']:.4f} ± {result['std']:.4f}"
        table.add_row("mean", "", mean, fmt(result["loss_mean"]), "", "")
    return fitted(table)


def sweep_table(rows: Sequence[dict]) -> RenderableType:
    """Every point of a sweep, best first (by mean cross-validated score with --cv); the
    score is accuracy, or a regression's R²."""
    cv = any("cv_mean" in r for r in rows)
    score = next((r["score"] for r in rows if r.get("score")), "accuracy")
    named = "accuracy" if score == "accuracy" else "R²"
    title = f"mean cross-validated {named}" if cv else f"best validation {named}"
    table = Table(title=f"Sweep ({title} first)", title_justify="left")
    table.add_column("point", no_wrap=True)
    table.add_column("overrides")
    label = SCORE_LABELS[score]
    scores = (
        ("cv mean", "cv std") if cv else (f"best val {label}", "best val loss", f"test {label}")
    )
    for name in (*scores, "epochs", "seconds"):
        table.add_column(name, justify="right")
    table.add_column("status")
    keys = {key for r in rows for key in r["overrides"]}
    short = {key: key.rsplit(".", 1)[-1] for key in keys}  # "lr" for train.optimizer.lr ...
    if len(set(short.values())) < len(short):  # ... unless two keys would look the same
        short = {key: key for key in keys}
    for r in rows:
        overrides = ", ".join(f"{short[k]}={v}" for k, v in r["overrides"].items())
        figures = (
            (r.get("cv_mean"), r.get("cv_std"))
            if cv
            else (r.get(f"best_val_{score}"), r["best_val_loss"], r.get(f"test_{score}"))
        )
        table.add_row(
            r["id"],
            overrides,
            *(fmt(v) for v in figures),
            str(r["epochs"]),
            f"{r['seconds']:.1f}",
            r["status"] + (f": {r['error']}" if r.get("error") else ""),
        )
    return fitted(table)


def score_name(figures: dict) -> str:
    """The score a run's records or report give: "r2" for a regression, else "accuracy"."""
    return "r2" if "train_r2" in figures or "r2" in figures else "accuracy"


def run_cell(row: dict, column: str) -> str:
    """A cell of `mlp runs`: a regression's R² stands in its accuracy columns, marked so."""
    if not column.endswith("accuracy"):
        return str(row[column])
    r2 = row.get(column.replace("accuracy", "r2"))
    if row[column] is None and r2 is not None:
        return f"R² {fmt(r2)}"
    return fmt(row[column])


def latest_text(report: EpochReport) -> str:
    """'loss 0.1234 acc 0.9700 | val loss 0.1500 acc 0.9600' for the progress bar (R² for a
    regression)."""
    score = score_name(report.scores)
    label = SCORE_LABELS[score]
    text = f"loss {report.train_loss:.4f} {label} {fmt(report.metric(f'train_{score}'))}"
    if report.val_loss is not None:
        text += f" | val loss {report.val_loss:.4f} {label} {fmt(report.metric(f'val_{score}'))}"
    return text


def thinned(n: int, limit: int = MAX_EPOCH_ROWS) -> list[int]:
    """At most `limit` evenly spread indices of range(n), including the first and the last."""
    if n <= limit:
        return list(range(n))
    return sorted({round(i) for i in np.linspace(0, n - 1, limit)})


def epochs_table(reports: Sequence[EpochReport]) -> RenderableType:
    """Train and validation loss and score (accuracy, or R²) per epoch (thinned for long
    runs)."""
    shown = thinned(len(reports))
    title = "Epochs" if len(shown) == len(reports) else f"Epochs ({len(shown)} of {len(reports)})"
    table = Table(title=title, title_justify="left")
    score = score_name(reports[0].scores) if reports else "accuracy"
    label = SCORE_LABELS[score]
    for name in ("epoch", "train loss", f"train {label}", "val loss", f"val {label}", "seconds"):
        table.add_column(name, justify="right")
    for i in shown:
        r = reports[i]
        table.add_row(
            str(r.epoch),
            fmt(r.train_loss),
            fmt(r.metric(f"train_{score}")),
            fmt(r.val_loss),
            fmt(r.metric(f"val_{score}")),
            f"{r.seconds:.3f}",
        )
    return fitted(table)


# The figures of each split after training: a classifier's accuracy; a regression's R², RMSE
# and MAE (in the targets' own units, averaged over the targets).
FINAL_FIGURES = {"accuracy": ("accuracy",), "r2": ("r2", "rmse", "mae")}


def results_table(final: dict[str, dict]) -> RenderableType:
    """Loss and score(s) on each split after training."""
    table = Table(title="Final", title_justify="left")
    for name, justify in (("split", "left"), ("samples", "right"), ("loss", "right")):
        table.add_column(name, justify=justify)
    figures_shown = FINAL_FIGURES[score_name(next(iter(final.values()), {}))]
    for name in figures_shown:
        table.add_column(FIGURE_HEADERS[name], justify="right")
    for split, figures in final.items():
        row = (fmt(figures.get(name)) for name in figures_shown)
        table.add_row(split, str(figures["n"]), fmt(figures["loss"]), *row)
    return fitted(table)


TOP_CONFUSIONS = 15  # the confusions listed when the whole matrix does not fit


class ConfusionMatrix:
    """The confusion matrix as a table where it fits the console; else its largest
    confusions (true -> predicted, count, share of the true class), largest first: a
    32-class matrix would otherwise become a thousand `class: count` lines."""

    def __init__(self, matrix: np.ndarray, labels: Sequence[str]) -> None:
        self.matrix, self.labels = matrix, labels

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        table = Table(
            title="Confusion matrix (rows: true, columns: predicted)", title_justify="left"
        )
        table.add_column("", style="bold")
        for label in self.labels:
            table.add_column(Text(label), justify="right")  # Text: a label is never markup
        for label, row in zip(self.labels, self.matrix):
            table.add_row(Text(label), *(str(int(v)) for v in row))
        for candidate in (table, compact(table)):
            laid_out = _laid_out(console, options, candidate)
            if laid_out is not None:
                yield laid_out
                return
        yield fitted(top_confusions(self.matrix, self.labels))


def top_confusions(matrix: np.ndarray, labels: Sequence[str], limit: int = TOP_CONFUSIONS) -> Table:
    """The `limit` largest off-diagonal cells: true class, predicted class, count, and the
    count as a share of the true class's rows."""
    off = np.array(matrix, dtype=np.int64)
    np.fill_diagonal(off, 0)
    cells = np.argsort(-off, axis=None, kind="stable")[:limit]
    rows = off.sum(axis=1) + np.diag(np.asarray(matrix))
    shown = [(i, j) for i, j in zip(*np.unravel_index(cells, off.shape)) if off[i, j] > 0]
    total = int(off.sum())
    title = (
        f"Largest confusions ({len(shown)} of {np.count_nonzero(off)} kinds, "
        f"{total} errors; the whole matrix is in --json)"
    )
    table = Table(title=title, title_justify="left")
    for name in ("true", "predicted", "count", "share of true"):
        table.add_column(name, justify="right" if name in ("count", "share of true") else "left")
    for i, j in shown:
        share = f"{off[i, j] / rows[i]:.1%}"
        table.add_row(Text(labels[i]), Text(labels[j]), str(int(off[i, j])), share)
    return table


def confusion_table(matrix: np.ndarray, labels: Sequence[str]) -> RenderableType:
    """Rows are true classes, columns predicted ones; the largest confusions instead where
    the whole matrix does not fit."""
    return ConfusionMatrix(np.asarray(matrix), [str(label) for label in labels])


def per_class_table(per_class: Sequence[dict]) -> RenderableType:
    """Precision, recall, F1 and support of each class."""
    table = Table(title="Per class", title_justify="left")
    table.add_column("class", style="bold")
    for name in ("precision", "recall", "f1", "support"):
        table.add_column(name, justify="right")
    for row in per_class:
        table.add_row(
            str(row["class"]),
            fmt(row["precision"]),
            fmt(row["recall"]),
            fmt(row["f1"]),
            str(row["support"]),
        )
    return fitted(table)


def per_target_table(per_target: Sequence[dict]) -> RenderableType:
    """A regression's R², RMSE, MAE and baseline R² for each target column."""
    table = Table(title="Per target", title_justify="left")
    table.add_column("target", style="bold")
    for name in ("R²", "RMSE", "MAE", "baseline R²"):
        table.add_column(name, justify="right")
    for row in per_target:
        table.add_row(
            Text(str(row["target"])),
            fmt(row["r2"]),
            f"{row['rmse']:.4g}",
            f"{row['mae']:.4g}",
            fmt(row["baseline_r2"]),
        )
    return fitted(table)


def gradcheck_table(results: Sequence[ArrayCheck], tol: float) -> RenderableType:
    """One row per parameter array: shape, entries checked, max relative error and where."""
    table = Table(title="Gradient check (float64, centred differences)", title_justify="left")
    table.add_column("array", style="bold")
    for name in ("shape", "checked", "max rel error", "where", "analytic", "numerical", ""):
        table.add_column(name, justify="right")
    for r in results:
        ok = r.max_rel_error <= tol
        table.add_row(
            r.name,
            "x".join(map(str, r.shape)),
            str(r.n_checked),
            f"{r.max_rel_error:.2e}",
            "[" + ",".join(map(str, r.worst_index)) + "]",
            f"{r.analytic:.6e}",
            f"{r.numerical:.6e}",
            Text("ok", style="green") if ok else Text("FAIL", style="red"),
        )
    return fitted(table)


# -- mlp explain -----------------------------------------------------------------------------------

EXPLAIN_SHOWN = 40  # values shown whole; a larger array is summarised by its norm and extremes


def quantity_text(name: str, equation: str, section: str, value: np.ndarray) -> Text:
    """One quantity of `mlp explain`: its name, shape, equation and docs/math.md section, then
    its values rounded to 8 decimals (or, past EXPLAIN_SHOWN of them, a summary)."""
    shape = " x ".join(map(str, value.shape)) or "scalar"
    text = Text(name, style="bold").append(f"  ({shape})  {equation}   [docs/math.md §{section}]\n")
    value = np.asarray(value, dtype=np.float64)
    if value.size <= EXPLAIN_SHOWN:
        body = np.array2string(value, precision=8, floatmode="fixed", max_line_width=96)
    else:
        body = (
            f"norm {np.linalg.norm(value):.6g}, min {value.min():.6g}, max {value.max():.6g}, "
            f"mean {value.mean():.6g} ({value.size} values; --json gives them all)"
        )
    return text.append("".join(f"    {line}\n" for line in body.splitlines()))


# -- learning curves ---------------------------------------------------------------------------

# train, validation (then more layers of `mlp curves --diagnostics`): distinct without colour
CURVE_MARKS = (
    ("•", "cyan"),
    ("o", "magenta"),
    ("x", "yellow"),
    ("+", "green"),
    ("*", "red"),
    ("#", "blue"),
)


def line_chart(
    title: str, series: dict[str, Sequence[float | None]], width: int = 60, height: int = 10
) -> Text:
    """A small scatter-line chart of one or two series over epochs, in plain characters."""
    values = [v for s in series.values() for v in s if v is not None]
    n = max((len(s) for s in series.values()), default=0)
    text = Text(f"{title}\n", style="bold")
    if not values:
        return text.append("(no data)\n")
    low, high = min(values), max(values)
    span = high - low or 1.0
    grid: list[list[tuple[str, str] | None]] = [[None] * width for _ in range(height)]
    for (_, points), (mark, style) in zip(series.items(), CURVE_MARKS):
        for i, value in enumerate(points):
            if value is None:
                continue
            x = round(i * (width - 1) / max(n - 1, 1))
            y = round((value - low) / span * (height - 1))
            grid[height - 1 - y][x] = (mark, style)
    labels = [f"{high:.4f}", *[""] * (height - 2), f"{low:.4f}"] if height > 1 else [f"{high:.4f}"]
    pad = max(len(label) for label in labels)
    for label, row in zip(labels, grid):
        text.append(f"{label:>{pad}} │")
        for cell in row:
            text.append(cell[0], style=cell[1]) if cell else text.append(" ")
        text.append("\n")
    text.append(" " * pad + " └" + "─" * width + "\n")
    text.append(" " * pad + f"  epoch 1{f'epoch {n}':>{width - 7}}\n")
    legend = "   ".join(f"{mark} {name}" for name, (mark, _) in zip(series, CURVE_MARKS))
    return text.append(" " * pad + "  " + legend + "\n")


class LineChart:
    """`line_chart` as wide as the console allows: at most 60 points across, at least 20."""

    def __init__(self, title: str, series: dict[str, Sequence[float | None]]) -> None:
        self.title, self.series = title, series

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        values = [v for s in self.series.values() for v in s if v is not None]
        pad = max((len(f"{v:.4f}") for v in values), default=0)
        yield line_chart(
            self.title, self.series, width=max(20, min(60, options.max_width - pad - 2))
        )


def learning_curves(records: Sequence[dict]) -> list[LineChart]:
    """Loss and score (accuracy, or R²) charts from metrics.jsonl records."""
    score = score_name(records[0]) if records else "accuracy"
    return [
        LineChart(
            f"{what} per epoch",
            {
                f"train {what}": [r.get(f"train_{what}") for r in records],
                f"validation {what}": [r.get(f"val_{what}") for r in records],
            },
        )
        for what in ("loss", score)
    ]


# The per-layer figures of `mlp curves --diagnostics`, and whether each is drawn on a log scale
# (a gradient norm that vanishes spans orders of magnitude).
LOG_SCALE = ("grad_norm", "update_ratio")
DIAGNOSTIC_FIGURES = {figure: figure in LOG_SCALE for figure in FIGURES}


def diagnostic_series(records: Sequence[dict]) -> dict[str, dict[int, list[float | None]]]:
    """figure -> layer -> its value at each epoch (None where not measured), from
    metrics.jsonl's records, read without trusting them: anything that is not a layer's
    number is left out."""
    series: dict[str, dict[int, list[float | None]]] = {f: {} for f in DIAGNOSTIC_FIGURES}
    for i, record in enumerate(records):
        layers = record.get("diagnostics") if isinstance(record, dict) else None
        for layer in layers if isinstance(layers, list) else []:
            number = layer.get("layer") if isinstance(layer, dict) else None
            if not isinstance(number, int) or isinstance(number, bool):
                continue
            for figure in DIAGNOSTIC_FIGURES:
                value = layer.get(figure)
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    series[figure].setdefault(number, [None] * len(records))[i] = float(value)
    return {figure: layers for figure, layers in series.items() if layers}


def _shown_layers(layers: dict[int, list]) -> dict[int, list]:
    """At most as many layers as there are marks: the first, the last, and evenly between."""
    numbers = sorted(layers)
    keep = [numbers[i] for i in thinned(len(numbers), len(CURVE_MARKS))]
    return {n: layers[n] for n in keep}


def diagnostic_charts(records: Sequence[dict]) -> list[LineChart]:
    """One chart per figure, a line per layer (log10 for gradient norms and update ratios)."""
    charts = []
    for figure, layers in diagnostic_series(records).items():
        log = DIAGNOSTIC_FIGURES[figure]
        series = {
            f"layer {n}": [
                (np.log10(v) if v > 0 else None) if log and v is not None else v for v in values
            ]
            for n, values in _shown_layers(layers).items()
        }
        title = f"log10 {figure} per epoch" if log else f"{figure} (share of units) per epoch"
        charts.append(LineChart(title, series))
    return charts


def save_diagnostics_png(records: Sequence[dict], path) -> None:
    """The per-layer figures as a PNG, with matplotlib (ImportError if it is not installed)."""
    import matplotlib

    matplotlib.use("Agg")  # files only: never open a window
    import matplotlib.pyplot as plt

    series = diagnostic_series(records)
    figure, axes = plt.subplots(1, max(len(series), 1), figsize=(5 * max(len(series), 1), 4))
    axes = np.atleast_1d(axes)
    epochs = list(range(1, len(records) + 1))
    for ax, (name, layers) in zip(axes, series.items()):
        for layer, values in layers.items():
            ax.plot(epochs, [np.nan if v is None else v for v in values], label=f"layer {layer}")
        if DIAGNOSTIC_FIGURES[name]:
            ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def save_curves_png(records: Sequence[dict], path) -> None:
    """The same charts as a PNG, with matplotlib (ImportError if it is not installed)."""
    import matplotlib

    matplotlib.use("Agg")  # files only: never open a window
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in records]
    score = score_name(records[0]) if records else "accuracy"
    figure, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    for ax, what in zip(axes, ("loss", score)):
        ax.plot(epochs, [r.get(f"train_{what}") for r in records], label=f"train {what}")
        validation = [r.get(f"val_{what}") for r in records]
        if any(v is not None for v in validation):
            ax.plot(epochs, [np.nan if v is None else v for v in validation], label=f"val {what}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(what)
        ax.grid(alpha=0.3)
        ax.legend()
    figure.savefig(path, dpi=100)
    plt.close(figure)
