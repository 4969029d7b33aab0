"""Data is never markup: names, labels and paths that look like Rich tags are shown as written;
and parser usage errors under --json are the JSON error object."""

import csv
import json
import re

import pytest

MARKUP_COLUMNS = ["kind[/]", "weight[kg]", "[bold]height"]
MARKUP_LABELS = ["[/]", "[bold]", "[kg]"]


def markup_csv(path, rows=60):
    """Columns and labels written like Rich tags; weight tells the labels apart."""
    with open(path, "w", newline="") as file:
        writer = csv.writer(file, lineterminator="\n")
        writer.writerow([*MARKUP_COLUMNS, "label[/]"])
        for i in range(rows):
            label = MARKUP_LABELS[i % 3]
            writer.writerow(
                [["[/]", "[b]", "x"][i % 2], f"{i % 3 * 4 + i % 5 * 0.1:.2f}", i, label]
            )
    return path


def test_columns_and_labels_that_look_like_markup_train_and_evaluate_verbatim(mlp_cli, tmp_path):
    markup_csv(tmp_path / "tags.csv")
    config = tmp_path / "tags.yaml"
    config.write_text(
        "seed: 1\ndata: {dataset: tags.csv, target: 'label[/]'}\nmodel: {hidden: [4]}\n"
        "train: {epochs: 2, batch_size: 16}\n"
    )
    run = tmp_path / "[red]run"
    trained = mlp_cli("train", "--config", config, "--out", run)
    assert trained.exit_code == 0, trained.stderr
    assert "label 'label[/]'" in trained.stdout
    assert "kind[/] -> 2 one-hot columns" in trained.stdout
    assert f"saved to {run}" in trained.stdout

    evaluated = mlp_cli("eval", run)
    assert evaluated.exit_code == 0, evaluated.stderr
    assert re.search(rf"^run +{re.escape(str(run))}$", evaluated.stdout, re.MULTILINE)
    # the confusion matrix is headed by the classes, and the per-class table lists them
    header = next(line for line in evaluated.stdout.splitlines() if "[kg]" in line)
    assert [cell.strip() for cell in header.split("┃")[2:-1]] == sorted(MARKUP_LABELS)
    for label in MARKUP_LABELS:
        assert any(line.startswith(f"│ {label} ") for line in evaluated.stdout.splitlines())


def test_a_run_named_like_markup_is_listed_verbatim(mlp_cli, iris_config, tmp_path):
    runs = tmp_path / "runs"
    run = runs / "[bold red]BOLD:thumbs_up:"  # neither markup nor an emoji code
    assert mlp_cli("train", "--config", iris_config, "--out", run, "-q").exit_code == 0
    listed = mlp_cli("runs", runs)
    assert listed.exit_code == 0, listed.stderr
    assert "name: [bold red]BOLD:thumbs_up:\n" in listed.stdout  # too wide for a table at 120
    assert "…" not in listed.stdout  # and no cell cut short
    assert f"Runs in {runs} (1)" in listed.stdout


def test_the_export_install_hint_shows_in_help(mlp_cli):
    shown = mlp_cli("export", "--help")
    assert "mlp-trainer[onnx]" in " ".join(shown.stdout.split())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "--bogus"], "No such option: --bogus"),
        (["eval"], "Missing argument 'RUN'."),
        (
            ["sweep", "-c", "x.yaml", "--grid", "g.yaml", "--jobs", "0"],
            "Invalid value for '--jobs'",
        ),
        (["cv", "-c", "x.yaml", "--folds", "1"], "Invalid value for '--folds' / '-k'"),
        (["trian"], "No such command 'trian'."),
        (["--bogus"], "No such option: --bogus"),
    ],
)
def test_usage_errors_under_json_are_the_json_error_object(mlp_cli, args, message):
    result = mlp_cli(*args, "--json")
    assert result.exit_code == 2
    error = json.loads(result.stdout)
    assert error["exit_code"] == 2 and error["error"].startswith(message)
    assert result.stderr == f"error: {error['error']}\n"


def test_usage_errors_without_json_keep_the_usage_box(mlp_cli):
    result = mlp_cli("train", "--bogus")
    assert result.exit_code == 2 and result.stdout == ""
    assert "No such option: --bogus" in result.stderr and "Usage:" in result.stderr
