"""Every fix a message suggests works when followed: each test takes the suggestion out of the
message, runs it, and sees the command succeed."""

import re

import pytest

CONFIG = "seed: 0\nmodel: {hidden: [3]}\ntrain: {epochs: 2, batch_size: 8}\n"


def csv_config(tmp_path, text: str):
    (tmp_path / "t.csv").write_text(text)
    config = tmp_path / "t.yaml"
    config.write_text(f"data: {{dataset: t.csv, test_size: 0.25, val_size: 0}}\n{CONFIG}")
    return config


def suggested_sets(stderr: str) -> list[str]:
    """'set data.header: false' in a message, as the `--set data.header=false` that does it."""
    found = re.findall(r"set (data\.\w+): (\S+?)(?=[\s;,)]|$)", stderr)
    assert found, stderr
    return [arg for key, value in found for arg in ("--set", f"{key}={value}")]


def rows(n: int = 40):
    """(x1, x2, label) rows: x2 takes n different values, so it cannot pass for a label."""
    return [(i % 7, i * 0.37, "ab"[i % 2]) for i in range(n)]


CSV_HINTS = {
    "label first": "species,x1,x2\n" + "".join(f"{c},{a},{b}\n" for a, b, c in rows()),
    "no header": "".join(f"{a},{b},{i % 2}\n" for i, (a, b, _) in enumerate(rows())),
    "missing cell": "x1,x2,label\n"
    + "".join(f"{'nan' if i == 5 else a},{b},{c}\n" for i, (a, b, c) in enumerate(rows())),
    "missing label": "x1,x2,label\n"
    + "".join(f"{a},{b},{'' if i == 5 else c}\n" for i, (a, b, c) in enumerate(rows())),
    "a class of one": "x1,x2,label\n"
    + "".join(f"{a},{b},{'c' if i == 5 else c}\n" for i, (a, b, c) in enumerate(rows())),
}


@pytest.mark.parametrize(
    ("text", "given"),
    [(t, []) for t in CSV_HINTS.values()]
    + [
        (CSV_HINTS["missing cell"].replace("nan", "1"), ["--set", "data.test_size=0.97"]),
        (CSV_HINTS["missing cell"].replace("nan", "1"), ["--set", "data.test_size=0.01"]),
    ],
    ids=[*CSV_HINTS, "test part too big", "test part too small"],
)
def test_each_csv_hint_followed_trains(mlp_cli, tmp_path, text, given):
    config = csv_config(tmp_path, text)
    refused = mlp_cli("train", "--config", config, "--out", tmp_path / "r1", "-q", *given)
    assert refused.exit_code == 2
    fix = suggested_sets(refused.stderr)
    followed = mlp_cli("train", "--config", config, "--out", tmp_path / "r2", "-q", *given, *fix)
    assert followed.exit_code == 0, (fix, followed.stderr)


def test_the_suggested_epochs_extend_a_finished_run(mlp_cli, iris_config, tmp_path):
    run = tmp_path / "run"
    assert mlp_cli("train", "--config", iris_config, "--out", run, "-q").exit_code == 0
    refused = mlp_cli("train", "--resume", run, "--set", "train.epochs=8", "-q")
    assert refused.exit_code == 2 and "ask for more" in refused.stderr
    [epochs] = re.findall(r"--set (train\.epochs=\d+)", refused.stderr)
    extended = mlp_cli("train", "--resume", run, "--set", epochs, "--json")
    assert extended.exit_code == 0, extended.stderr
    assert f'"epochs": {epochs.split("=")[1]}' in extended.stdout


def test_a_smaller_lr_as_suggested_after_divergence_trains(mlp_cli, iris_config, tmp_path):
    big = ("--set", "train.optimizer.lr=1e6")
    diverged = mlp_cli("train", "--config", iris_config, "--out", tmp_path / "a", *big)
    assert diverged.exit_code == 1
    [now] = re.findall(r"Try a smaller train\.optimizer\.lr \(now ([^)]+)\)", diverged.stderr)
    smaller = f"train.optimizer.lr={float(now) / 1e6}"
    trained = mlp_cli("train", "--config", iris_config, "--out", tmp_path / "b", "--set", smaller)
    assert trained.exit_code == 0, trained.stderr


def test_overwrite_as_suggested_replaces_the_run(mlp_cli, iris_config, tmp_path):
    run = tmp_path / "run"
    assert mlp_cli("train", "--config", iris_config, "--out", run, "-q").exit_code == 0
    refused = mlp_cli("train", "--config", iris_config, "--out", run, "-q")
    assert refused.exit_code == 2 and "pass --overwrite" in refused.stderr
    again = mlp_cli("train", "--config", iris_config, "--out", run, "-q", "--overwrite")
    assert again.exit_code == 0, again.stderr


def test_switching_optimizer_with_one_set_drops_the_keys_it_does_not_take(mlp_cli, tmp_path):
    config = tmp_path / "sgd.yaml"
    config.write_text(
        "data: {dataset: iris}\nmodel: {hidden: [4]}\n"
        "train: {epochs: 2, optimizer: {name: sgd, lr: 0.05, momentum: 0.9, nesterov: true}}\n"
    )
    run = tmp_path / "run"
    result = mlp_cli(
        "train", "--config", config, "--out", run, "--set", "train.optimizer.name=adam"
    )
    assert result.exit_code == 0, result.stderr
    note = "left out train.optimizer.momentum, train.optimizer.nesterov"
    assert note in result.stdout
    saved = (run / "config.yaml").read_text()
    assert "name: adam\n    lr: 0.05\n    beta1: 0.9\n" in saved and "momentum" not in saved


def test_scoring_a_changed_csv_with_data_as_suggested_works(mlp_cli, tmp_path):
    config = csv_config(tmp_path, CSV_HINTS["missing cell"].replace("nan", "1"))
    run = tmp_path / "run"
    assert mlp_cli("train", "--config", config, "--out", run, "-q").exit_code == 0
    with (tmp_path / "t.csv").open("a") as file:
        file.write("3,1.5,a\n")
    refused = mlp_cli("eval", run)
    assert refused.exit_code == 2 and "score it with --data FILE" in refused.stderr
    scored = mlp_cli("eval", run, "--data", tmp_path / "t.csv", "--json")
    assert scored.exit_code == 0, scored.stderr
    assert '"n": 41' in scored.stdout  # every row of the file, the new one included
