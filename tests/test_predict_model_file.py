"""`mlp predict RUN/model.npz` writes what `mlp predict RUN` writes, the id column included:
the model file records how its run reads tables (checkpoint format 2); an older file reads
the config.yaml beside it."""

import csv

import numpy as np

from mlp.checkpoint import FORMAT_VERSION


def write_rows(path, rows, delimiter):
    with open(path, "w", newline="") as file:
        csv.writer(file, delimiter=delimiter, lineterminator="\n").writerows(rows)
    return path


def rows(n=40):
    rng = np.random.default_rng(1)
    table = [["account", "colour", "size", "label"]]
    for i in range(n):
        colour = ["red", "blue"][i % 2]
        size = rng.normal(3.0 if colour == "red" else 1.0, 0.4)
        table.append([f"{i:05d}", colour, f"{size:.3f}", "a" if size > 2 else "b"])
    return table


def trained(mlp_cli, tmp_path):
    """A run on a ';'-separated file whose id column is `account`."""
    data = write_rows(tmp_path / "accounts.csv", rows(), ";")
    config = tmp_path / "accounts.yaml"
    config.write_text(
        f"data: {{dataset: {data}, id: account, delimiter: ';'}}\nmodel: {{hidden: [3]}}\n"
        "train: {epochs: 3, batch_size: 8}\n"
    )
    run = tmp_path / "run"
    result = mlp_cli("train", "--config", config, "--out", run, "--quiet")
    assert result.exit_code == 0, result.stderr
    return run, write_rows(tmp_path / "new.csv", rows(6), ";")


def test_predict_from_the_model_file_equals_predict_from_the_run(mlp_cli, tmp_path):
    run, new = trained(mlp_cli, tmp_path)
    from_run = mlp_cli("predict", run, new, "--proba")
    from_file = mlp_cli("predict", run / "model.npz", new, "--proba")
    assert from_run.exit_code == from_file.exit_code == 0, from_file.stderr
    assert from_file.stdout == from_run.stdout
    lines = from_file.stdout.splitlines()
    assert lines[0].startswith("account,prediction,p_a,p_b")
    assert len(lines) == 7 and all(line.count(",") == 3 for line in lines)
    assert [line.split(",")[0] for line in lines[1:]] == [f"{i:05d}" for i in range(6)]  # verbatim
    with np.load(run / "model.npz") as npz:
        assert int(npz["format_version"]) == FORMAT_VERSION == 3


def test_an_older_model_file_reads_the_config_beside_it(mlp_cli, tmp_path):
    run, new = trained(mlp_cli, tmp_path)
    expected = mlp_cli("predict", run, new).stdout
    with np.load(run / "model.npz") as npz:  # the same model as format 1 wrote it
        arrays = {name: npz[name] for name in npz.files if name != "prep.reading"}
    arrays["format_version"] = np.asarray(1)
    older = tmp_path / "older"
    older.mkdir()
    np.savez(older / "model.npz", **arrays)
    alone = mlp_cli("predict", older / "model.npz", new)  # no config: the defaults' reading
    assert alone.exit_code == 0, alone.stderr
    assert alone.stdout.startswith("prediction\n")  # ';' is found, but no id column known ...
    (older / "config.yaml").write_bytes((run / "config.yaml").read_bytes())
    beside = mlp_cli("predict", older / "model.npz", new)  # ... until the config is beside it
    assert beside.exit_code == 0, beside.stderr
    assert beside.stdout == expected
