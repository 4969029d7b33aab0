"""No table cuts a number or a name short, and no path is broken, at 60, 80 and 120 columns
with the output piped: everything the JSON result holds appears whole in the text."""

import io
import json
import re

import pytest
from rich.console import Console

CONFIG = (
    "seed: 2\ndata: {dataset: iris}\nmodel: {hidden: [5]}\n"
    "train: {epochs: 4, batch_size: 16, optimizer: {name: sgd, lr: 0.1, momentum: 0.9}}\n"
)
# A long name: a table that cut it, or a line that broke it, would show only a part of it.
RUN_NAME = "a-run-with-a-rather-long-name-for-narrow-terminals"


def whole(value: str, text: str) -> bool:
    """Whether `value` appears in `text` with nothing of a number or name glued to either side
    (an ellipsis or a fold would leave only a part of it, followed by '…' or a line break)."""
    edge = r"[^\w.\-…]"
    return re.search(rf"(?:^|{edge}){re.escape(value)}(?:$|{edge})", text, re.M) is not None


def missing(values, text: str) -> list[str]:
    return [v for v in map(str, values) if not whole(v, text)]


@pytest.fixture
def narrow(mlp_cli, monkeypatch, tmp_path, request):
    monkeypatch.setenv("COLUMNS", str(request.param))
    (tmp_path / "c.yaml").write_text(CONFIG)
    (tmp_path / "grid.yaml").write_text("train.optimizer.lr: [0.05, 0.2]\n")
    return mlp_cli, tmp_path


@pytest.mark.parametrize("narrow", [60, 80, 120], indirect=True)
def test_every_figure_and_name_of_the_json_appears_whole_in_the_text(narrow):
    mlp_cli, t = narrow
    run = t / "runs" / RUN_NAME
    trained = mlp_cli("train", "--config", t / "c.yaml", "--out", run)
    assert trained.exit_code == 0, trained.stderr
    text = trained.stdout
    assert f"saved to {run}\n" in text  # the path whole, on the final line
    epochs = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    for record in epochs:
        figures = [record[k] for k in ("train_loss", "train_accuracy", "val_loss", "val_accuracy")]
        assert not missing([record["epoch"], *(f"{v:.4f}" for v in figures)], text)
    final = json.loads((run / "summary.json").read_text())["final"]
    for split in final.values():
        assert not missing([split["n"], f"{split['loss']:.4f}", f"{split['accuracy']:.4f}"], text)

    listed = mlp_cli("runs", t / "runs")
    [row] = json.loads(mlp_cli("runs", t / "runs", "--json").stdout)["runs"]
    shown = [row[k] for k in ("name", "dataset", "optimizer", "epochs", "date", "status")]
    shown += [row["architecture"], f"{row['best_val_accuracy']:.4f}", f"{row['test_accuracy']:.4f}"]
    assert not missing(shown, listed.stdout), listed.stdout

    scored = mlp_cli("eval", run)
    report = json.loads(mlp_cli("eval", run, "--json").stdout)
    assert whole(str(run), scored.stdout)
    for c in report["per_class"]:
        figures = [f"{c[k]:.4f}" for k in ("precision", "recall", "f1")]
        assert not missing([c["class"], *figures, c["support"]], scored.stdout), scored.stdout

    checked = mlp_cli("gradcheck", "--config", t / "c.yaml")
    arrays = json.loads(mlp_cli("gradcheck", "--config", t / "c.yaml", "--json").stdout)["arrays"]
    for a in arrays:
        figures = [f"{a['max_rel_error']:.2e}", f"{a['analytic']:.6e}", f"{a['numerical']:.6e}"]
        shape = "x".join(map(str, a["shape"]))
        assert not missing([a["name"], shape, a["checked"], *figures], checked.stdout)

    args = ("sweep", "--config", t / "c.yaml", "--grid", t / "grid.yaml", "--out", t / "sweep")
    swept = mlp_cli(*args, "--jobs", "1")
    points = json.loads(mlp_cli(*args, "--jobs", "1", "--json").stdout)["points"]
    for p in points:
        figures = [f"{p[k]:.4f}" for k in ("best_val_accuracy", "best_val_loss", "test_accuracy")]
        lr = f"lr={p['overrides']['train.optimizer.lr']}"
        assert not missing([p["id"], lr, *figures, p["epochs"], p["status"]], swept.stdout)
    assert f"config in {t / 'sweep' / 'best.yaml'}\n" in swept.stdout


def printed(renderable, width: int) -> list[str]:
    console = Console(width=width, file=io.StringIO(), record=True, soft_wrap=True)
    console.print(renderable)
    return console.export_text().splitlines()


def test_a_table_too_wide_for_the_terminal_becomes_key_value_lines():
    from cli import render
    from mlp import ArrayCheck

    check = ArrayCheck("W1", (4, 5), 20, 1.25e-9, (0, 3), 5.585193e-03, 5.585194e-03)
    lines = printed(render.gradcheck_table([check], 1e-6), 60)
    assert lines[:3] == [
        "Gradient check (float64, centred differences)",
        "array: W1",
        "  shape: 4x5",
    ]
    assert "  analytic: 5.585193e-03" in lines and "  numerical: 5.585194e-03" in lines
    assert lines[-1] == "  ok"
    wide = printed(render.gradcheck_table([check], 1e-6), 120)
    assert any("┃ array ┃" in line for line in wide)  # wide enough: the table itself


def test_a_key_value_grid_keeps_a_long_path_on_one_line():
    from cli import render

    path = "/tmp/" + "x" * 70 + "/run"
    lines = printed(render.key_value_grid([("run", path), ("model", "4 -> 5 -> 3")]), 60)
    assert lines == [f"run: {path}", "model: 4 -> 5 -> 3"]
