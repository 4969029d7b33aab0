"""The bad-input suite: every case exits 2 (1 for a training failure) with one clear line on
stderr naming the culprit, no traceback, and an earlier run left byte-for-byte unchanged."""

import shutil

import numpy as np
import pytest

from mlp.checkpoint import FORMAT_VERSION

GOOD = "seed: 0\ndata: {dataset: iris}\nmodel: {hidden: [4]}\ntrain: {epochs: 2, batch_size: 16}\n"


@pytest.fixture(scope="module")
def earlier_run(tmp_path_factory):
    """A finished run that no bad input may touch."""
    from typer.testing import CliRunner

    from cli.app import app

    root = tmp_path_factory.mktemp("earlier")
    (root / "good.yaml").write_text(GOOD)
    result = CliRunner().invoke(
        app, ["train", "--config", str(root / "good.yaml"), "--out", str(root / "run"), "-q"]
    )
    assert result.exit_code == 0, result.output
    return root / "run"


def snapshot(run):
    return {p.name: p.read_bytes() for p in sorted(run.iterdir())}


def check(result, culprit, code=2):
    assert result.exit_code == code, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert culprit in lines[0], lines[0]


CONFIGS = {
    "syntax": ("data: {dataset: iris\n", "invalid YAML"),
    "python tag": ("!!python/object/apply:os.getcwd []\n", "!!python"),
    "list root": ("- data\n", "top level must be a mapping"),
    "scalar root": ("iris\n", "top level must be a mapping"),
    "empty file": ("", "top level must be a mapping"),
    "unknown top key": (GOOD + "optimiser: adam\n", "optimiser: unknown key"),
    "unknown data key": ("data: {dataset: iris, split: 0.2}\n", "data.split: unknown key"),
    "unknown model key": ("data: {dataset: iris}\nmodel: {units: 3}\n", "model.units"),
    "unknown optimizer key": (
        "data: {dataset: iris}\ntrain: {optimizer: {lrr: 0.1}}\n",
        "train.optimizer.lrr",
    ),
    "string for int": ("data: {dataset: iris}\ntrain: {epochs: ten}\n", "train.epochs"),
    "float for int": ("data: {dataset: iris}\ntrain: {batch_size: 3.5}\n", "train.batch_size"),
    "bool for number": ("data: {dataset: iris}\ntrain: {weight_decay: true}\n", "weight_decay"),
    "bool for int": ("data: {dataset: iris}\nmodel: {hidden: [true]}\n", "model.hidden"),
    "negative epochs": ("data: {dataset: iris}\ntrain: {epochs: -5}\n", "train.epochs"),
    "test_size 1": ("data: {dataset: iris, test_size: 1}\n", "data.test_size"),
    "nan lr": ("data: {dataset: iris}\ntrain: {optimizer: {lr: .nan}}\n", "must be finite"),
    "inf decay": ("data: {dataset: iris}\ntrain: {weight_decay: .inf}\n", "must be finite"),
    "unknown dataset": ("data: {dataset: cifar10}\n", "cifar10"),
    "unknown optimizer": ("data: {dataset: iris}\ntrain: {optimizer: {name: lion}}\n", "lion"),
    "unknown activation": ("data: {dataset: iris}\nmodel: {activation: gelu}\n", "gelu"),
    "no dataset": ("seed: 1\n", "data.dataset: is required"),
}


@pytest.mark.parametrize("case", list(CONFIGS))
def test_bad_config(mlp_cli, earlier_run, tmp_path, case):
    text, culprit = CONFIGS[case]
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    before = snapshot(earlier_run)
    # aimed straight at the earlier run, with --overwrite: it must still be left alone
    check(mlp_cli("train", "--config", path, "--out", earlier_run, "--overwrite"), culprit)
    check(mlp_cli("gradcheck", "--config", path), culprit)
    assert snapshot(earlier_run) == before


OVERRIDES = {
    "no equals": ("train.epochs", "expected KEY=VALUE"),
    "unknown key": ("train.epoch=3", "train.epoch: unknown key"),
    "bad value": ("train.epochs=0", "train.epochs: must be an integer >= 1"),
    "bad yaml": ("model.hidden=[3", "not valid YAML"),
    "bool for float": ("data.val_size=false", "data.val_size"),
}


@pytest.mark.parametrize("case", list(OVERRIDES))
def test_bad_set_override(mlp_cli, earlier_run, tmp_path, case):
    override, culprit = OVERRIDES[case]
    (tmp_path / "good.yaml").write_text(GOOD)
    before = snapshot(earlier_run)
    result = mlp_cli(
        "train",
        "--config",
        tmp_path / "good.yaml",
        "--out",
        earlier_run,
        "--overwrite",
        "--set",
        override,
    )
    check(result, culprit)
    assert f"--set {override}" in result.stderr
    assert snapshot(earlier_run) == before


CSVS = {
    "missing": (None, "no such file"),
    "empty": ("", "empty"),
    "header only": ("a,b,label\n", "no data rows"),
    "ragged row": ("a,b,label\n1,2,x\n3,4,y\n5,y\n", "line 4 has 2 fields"),
    "text in a number column": ("a,b,label\n1,2,x\n3,four,y\n", "'four' is not a number"),
    "nan": ("a,b,label\n1,2,x\n3,nan,y\n", "nan is not finite"),
    "infinity": ("a,b,label\n1,-inf,x\n3,4,y\n", "-inf is not finite"),
    "single class": ("a,b,label\n1,2,x\n3,4,x\n5,6,x\n", "only one class"),
    "one sample": ("a,b,label\n1,2,x\n", "at least 2 samples"),
    "too small to split": ("a,b,label\n1,2,x\n3,4,y\n", "stratified split"),
}


@pytest.mark.parametrize("case", list(CSVS))
def test_bad_csv(mlp_cli, earlier_run, tmp_path, case):
    text, culprit = CSVS[case]
    csv = tmp_path / "data.csv"
    if text is not None:
        csv.write_text(text)
    config = tmp_path / "csv.yaml"
    config.write_text(f"data: {{dataset: {csv}}}\ntrain: {{epochs: 1}}\n")
    before = snapshot(earlier_run)
    check(mlp_cli("train", "--config", config, "--out", earlier_run, "--overwrite"), culprit)
    assert str(csv) in mlp_cli("train", "--config", config).stderr or culprit == "stratified split"
    assert snapshot(earlier_run) == before


def damaged_copy(earlier_run, tmp_path, change):
    run = tmp_path / "copy"
    shutil.copytree(earlier_run, run)
    with np.load(run / "model.npz") as npz:
        arrays = {name: npz[name] for name in npz.files}
    change(arrays)
    with open(run / "model.npz", "wb") as file:
        np.savez(file, **arrays)
    return run


def _object_classes(a):
    a["classes"] = np.array(["x", None, 3], dtype=object)


CHECKPOINTS = {
    "object arrays": (_object_classes, "pickled data or object arrays"),
    "missing array": (lambda a: a.pop("b2"), "b2 is missing"),
    "extra array": (lambda a: a.update(hook=np.zeros(2)), "unexpected array(s) hook"),
    "newer format": (lambda a: a.update(format_version=np.asarray(FORMAT_VERSION + 1)), "newer"),
    "shape contradicts metadata": (
        lambda a: a.update(layer_sizes=np.array([4, 5, 3])),
        "contradicts",
    ),
    "wrong shape": (lambda a: a.update(W2=np.zeros((5, 3))), "W2 has 5 inputs"),
}


@pytest.mark.parametrize("case", list(CHECKPOINTS))
def test_bad_checkpoint(mlp_cli, earlier_run, tmp_path, case):
    change, culprit = CHECKPOINTS[case]
    before = snapshot(earlier_run)
    run = damaged_copy(earlier_run, tmp_path, change)
    check(mlp_cli("eval", run), culprit)
    assert "model.npz" in mlp_cli("eval", run).stderr
    assert snapshot(earlier_run) == before


def test_truncated_checkpoint(mlp_cli, earlier_run, tmp_path):
    run = tmp_path / "copy"
    shutil.copytree(earlier_run, run)
    data = (run / "model.npz").read_bytes()
    (run / "model.npz").write_bytes(data[: len(data) // 3])
    check(mlp_cli("eval", run), "model.npz")


def test_init_from_a_damaged_file(mlp_cli, earlier_run, tmp_path):
    bad = tmp_path / "weights.npz"
    bad.write_bytes(b"\x93NUMPY garbage")
    (tmp_path / "good.yaml").write_text(GOOD)
    check(
        mlp_cli("train", "--config", tmp_path / "good.yaml", "--set", f"model.init_from={bad}"),
        "model.init_from",
    )


def test_eval_on_data_that_no_longer_fits_the_model(mlp_cli, tmp_path):
    csv = tmp_path / "data.csv"
    rows = [f"{i},{i % 3},{'abc'[i % 3]}" for i in range(30)]
    csv.write_text("a,b,label\n" + "\n".join(rows) + "\n")
    config = tmp_path / "csv.yaml"
    config.write_text(f"data: {{dataset: {csv}}}\ntrain: {{epochs: 2}}\n")
    run = tmp_path / "run"
    assert mlp_cli("train", "--config", config, "--out", run, "-q").exit_code == 0
    csv.write_text("a,b,c,label\n" + "\n".join(f"{r.rsplit(',', 1)[0]},1,{r[-1]}" for r in rows))
    check(mlp_cli("eval", run), "expects 2 features")
    csv.write_text("a,b,label\n" + "\n".join(r.replace(",c", ",d") for r in rows) + "\n")
    check(mlp_cli("eval", run), "classes")


def test_a_training_failure_is_exit_1_and_leaves_the_earlier_run(mlp_cli, earlier_run, tmp_path):
    (tmp_path / "good.yaml").write_text(GOOD)
    before = snapshot(earlier_run)
    result = mlp_cli(
        "train",
        "--config",
        tmp_path / "good.yaml",
        "--out",
        tmp_path / "new",
        "--set",
        "train.optimizer.lr=1e308",
    )
    check(result, "diverged", code=1)
    assert snapshot(earlier_run) == before
