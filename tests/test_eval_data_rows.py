"""`mlp eval RUN --data FILE` accounts for every row: read, scored, and left out unlabelled."""

import csv
import json

import numpy as np
import pytest


def write_rows(path, rows):
    with open(path, "w", newline="") as file:
        csv.writer(file, lineterminator="\n").writerows(rows)
    return path


def rows(n, unlabelled=()):
    rng = np.random.default_rng(2)
    table = [["size", "weight", "label"]]
    for i in range(n):
        size = rng.normal(3.0 if i % 2 else 1.0, 0.3)
        label = "" if i in unlabelled else ("big" if i % 2 else "small")
        table.append([f"{size:.3f}", f"{rng.normal():.3f}", label])
    return table


@pytest.mark.parametrize("missing", ["impute", "error"])  # how the run trained: no matter here
def test_eval_data_counts_the_rows_read_scored_and_left_out(mlp_cli, tmp_path, missing):
    data = write_rows(tmp_path / "train.csv", rows(60))
    config = tmp_path / "c.yaml"
    config.write_text(
        f"data: {{dataset: {data}, missing: {missing}}}\nmodel: {{hidden: [3]}}\n"
        "train: {epochs: 2, batch_size: 8}\n"
    )
    run = tmp_path / "run"
    assert mlp_cli("train", "--config", config, "--out", run, "-q").exit_code == 0
    other = write_rows(tmp_path / "other.csv", rows(27, unlabelled=(0, 5, 26)))

    report = mlp_cli("eval", run, "--data", other, "--json")
    assert report.exit_code == 0, report.stderr
    figures = json.loads(report.stdout)
    assert (figures["n_read"], figures["n"], figures["n_unlabelled"]) == (27, 24, 3)
    assert np.array(figures["confusion_matrix"]).sum() == 24
    assert report.stderr.strip() == (
        f"note: 3 of 27 rows of {other} have no label and were left out; 24 scored"
    )
    text = mlp_cli("eval", run, "--data", other)
    assert "all rows (24 samples scored of 27 read, 3 without a label)" in text.stdout

    own = json.loads(mlp_cli("eval", run, "--json").stdout)  # the recorded split: all scored
    assert own["n_read"] == own["n"] == 12 and own["n_unlabelled"] == 0
