"""The bad-input suite: every case exits 2 (1 for a training failure) with one clear line on
stderr naming the culprit, no traceback, and an earlier run left byte-for-byte unchanged."""

import shutil

import numpy as np
import pytest
from conftest import one_thread

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


@pytest.fixture(scope="module")
def mlp_fast():
    """`mlp ARGS...` in-process, with Typer's command built once for the many config cases
    (building it takes most of the time of an invocation that fails at the config)."""
    import typer
    from click.testing import CliRunner

    from cli.app import app

    command, runner = typer.main.get_command(app), CliRunner(env={"COLUMNS": "120"})

    def invoke(*args):
        return runner.invoke(command, one_thread(args), catch_exceptions=False)

    return invoke


def snapshot(run):
    return {p.name: p.read_bytes() for p in sorted(run.iterdir())}


def check(result, culprit, code=2):
    assert result.exit_code == code, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert culprit in lines[0], lines[0]


IRIS = "data: {dataset: iris}\n"

# (YAML text, then fragments the one-line message must contain: the dotted key and the value)
BAD_CONFIGS = {
    # the file as a whole
    "syntax error": ("data: {dataset: iris\n", "invalid YAML", "line 2, column 1"),
    "tab indent": ("data:\n\tdataset: iris\n", "invalid YAML", "line 2, column 1"),
    "empty file": ("", "top level must be a mapping", "the config is empty"),
    "only comments": ("# nothing yet\n", "top level must be a mapping", "empty"),
    "list root": ("- data\n- model\n", "top level must be a mapping", "got ['data', 'model']"),
    "string root": ("iris\n", "top level must be a mapping", "got 'iris'"),
    "number root": ("42\n", "top level must be a mapping", "got 42"),
    # sections
    "data not a mapping": ("data: 3\n", "data: must be a mapping", "got 3"),
    "model a list": (IRIS + "model: [1]\n", "model: must be a mapping", "got [1]"),
    "train null": (IRIS + "train:\n", "train: must be a mapping", "got None"),
    "optimizer a number": (IRIS + "train: {optimizer: 0.1}\n", "train.optimizer:", "got 0.1"),
    "optimizer null": (IRIS + "train: {optimizer: null}\n", "train.optimizer:", "got None"),
    "no data": ("seed: 0\n", "data.dataset: is required"),
    "no dataset": ("data: {test_size: 0.3}\n", "data.dataset: is required"),
    # unknown keys at every depth
    "unknown top key": (
        IRIS + "extra: 1\n",
        "extra: unknown key (valid: data, model, seed, task, train)",
    ),
    "unknown data key": (
        "data: {dataset: iris, colour: red}\n",
        "data.colour: unknown key (valid: categorical, dataset, decimal, delimiter, drop, header, "
        "id, max_categories, missing, standardize, standardize_target, target, test_size, "
        "val_size)",
    ),
    "unknown model key": (
        IRIS + "model: {layers: [3]}\n",
        "model.layers: unknown key (valid: activation, dtype, hidden, init_from)",
    ),
    "unknown train key": (IRIS + "train: {epochz: 3}\n", "train.epochz: unknown key", "epochs"),
    "unknown optimizer key": (
        IRIS + "train: {optimizer: {lrr: 1}}\n",
        "train.optimizer.lrr: unknown key (valid: lr, momentum, name, nesterov)",
    ),
    "adam key under sgd": (
        IRIS + "train: {optimizer: {name: sgd, beta1: 0.9}}\n",
        "train.optimizer.beta1: unknown key (valid: lr, momentum, name, nesterov)",
    ),
    "sgd key under adam": (
        IRIS + "train: {optimizer: {name: adam, momentum: 0.9}}\n",
        "train.optimizer.momentum: unknown key (valid: beta1, beta2, eps, lr, name)",
    ),
    "unknown schedule key": (
        IRIS + "train: {lr_schedule: {gamma: 0.5}}\n",
        "train.lr_schedule.gamma: unknown key (valid: name)",
    ),
    "unknown early stopping key": (
        IRIS + "train: {early_stopping: {patienc: 3}}\n",
        "train.early_stopping.patienc: unknown key",
    ),
    "unknown optimizer": (
        IRIS + "train: {optimizer: {name: lion}}\n",
        "train.optimizer.name: must be one of sgd, adam, adamw, rmsprop, lbfgs",
        "got 'lion'",
    ),
    # data
    "unknown dataset": (
        "data: {dataset: mnist}\n",
        "data.dataset: must be one of digits, iris, wine, breast_cancer, diabetes, or a path to a "
        ".csv",
        "got 'mnist'",
    ),
    "dataset not csv": ("data: {dataset: data.xlsx}\n", "data.dataset", "got 'data.xlsx'"),
    "dataset a number": ("data: {dataset: 7}\n", "data.dataset", "got 7"),
    "dataset empty": ("data: {dataset: ''}\n", "data.dataset", "got ''"),
    "dataset null": ("data: {dataset: null}\n", "data.dataset", "got None"),
    "target with bundled": ("data: {dataset: iris, target: label}\n", "data.target", "'label'"),
    "target empty": ("data: {dataset: a.csv, target: ''}\n", "data.target", "got ''"),
    "target a number": ("data: {dataset: a.csv, target: 3}\n", "data.target", "got 3"),
    "test_size 1": ("data: {dataset: iris, test_size: 1.0}\n", "data.test_size", "got 1.0"),
    "val_size negative": ("data: {dataset: iris, val_size: -0.1}\n", "data.val_size", "got -0.1"),
    "test_size nan": (
        "data: {dataset: iris, test_size: .nan}\n",
        "data.test_size: must be finite",
        "got nan",
    ),
    "val_size inf": ("data: {dataset: iris, val_size: .inf}\n", "must be finite", "got inf"),
    "test_size string": ("data: {dataset: iris, test_size: '0.2'}\n", "data.test_size", "'0.2'"),
    "test_size bool": ("data: {dataset: iris, test_size: true}\n", "data.test_size", "got True"),
    "standardize 1": ("data: {dataset: iris, standardize: 1}\n", "data.standardize", "got 1"),
    "standardize text": (
        "data: {dataset: iris, standardize: 'true'}\n",
        "data.standardize: must be true or false",
        "got 'true'",
    ),
    # model
    "hidden an int": (IRIS + "model: {hidden: 128}\n", "model.hidden: must be a list", "got 128"),
    "hidden zero": (IRIS + "model: {hidden: [0]}\n", "model.hidden", "got [0]"),
    "hidden float": (IRIS + "model: {hidden: [2.5]}\n", "model.hidden", "got [2.5]"),
    "hidden bool": (IRIS + "model: {hidden: [true]}\n", "model.hidden", "got [True]"),
    "hidden string": (IRIS + "model: {hidden: '[64]'}\n", "model.hidden", "got '[64]'"),
    "activation": (
        IRIS + "model: {activation: swish}\n",
        "model.activation: must be one of sigmoid",
        "got 'swish'",
    ),
    "dtype": (
        IRIS + "model: {dtype: float16}\n",
        "model.dtype: must be one of float64, float32",
        "got 'float16'",
    ),
    "init_from empty": (IRIS + "model: {init_from: ''}\n", "model.init_from", "got ''"),
    "init_from number": (IRIS + "model: {init_from: 5}\n", "model.init_from", "got 5"),
    # train
    "epochs 0": (IRIS + "train: {epochs: 0}\n", "train.epochs: must be an integer >= 1", "got 0"),
    "epochs float": (IRIS + "train: {epochs: 5.0}\n", "train.epochs", "got 5.0"),
    "epochs bool": (IRIS + "train: {epochs: true}\n", "train.epochs", "got True"),
    "epochs null": (IRIS + "train: {epochs: null}\n", "train.epochs", "got None"),
    "epochs string": (IRIS + "train: {epochs: '10'}\n", "train.epochs", "got '10'"),
    "batch_size negative": (IRIS + "train: {batch_size: -1}\n", "train.batch_size", "got -1"),
    "shuffle 0": (IRIS + "train: {shuffle: 0}\n", "train.shuffle: must be true or false", "got 0"),
    "weight_decay negative": (
        IRIS + "train: {weight_decay: -1e-4}\n",
        "train.weight_decay",
        "got -0.0001",
    ),
    "weight_decay -inf": (IRIS + "train: {weight_decay: -.inf}\n", "must be finite", "got -inf"),
    "lr zero": (
        IRIS + "train: {optimizer: {lr: 0}}\n",
        "train.optimizer.lr: must be a number > 0",
        "got 0",
    ),
    "lr bool": (IRIS + "train: {optimizer: {lr: false}}\n", "train.optimizer.lr", "got False"),
    "lr nan": (IRIS + "train: {optimizer: {lr: .nan}}\n", "train.optimizer.lr", "got nan"),
    "momentum 1": (
        IRIS + "train: {optimizer: {momentum: 1.0}}\n",
        "train.optimizer.momentum",
        "got 1.0",
    ),
    "nesterov without momentum": (
        IRIS + "train: {optimizer: {momentum: 0, nesterov: true}}\n",
        "train.optimizer.nesterov: true needs momentum > 0",
    ),
    "nesterov text": (
        IRIS + "train: {optimizer: {nesterov: 'yes'}}\n",
        "train.optimizer.nesterov",
        "got 'yes'",
    ),
    "beta1 1": (
        IRIS + "train: {optimizer: {name: adam, beta1: 1}}\n",
        "train.optimizer.beta1",
        "got 1",
    ),
    "beta2 negative": (
        IRIS + "train: {optimizer: {name: adam, beta2: -0.5}}\n",
        "train.optimizer.beta2",
        "got -0.5",
    ),
    "eps zero": (
        IRIS + "train: {optimizer: {name: adam, eps: 0}}\n",
        "train.optimizer.eps: must be a number > 0",
        "got 0",
    ),
    "early stopping without validation": (
        "data: {dataset: iris, val_size: 0}\ntrain: {early_stopping: {}}\n",
        "train.early_stopping: needs a validation split",
    ),
    # seed
    "seed negative": ("seed: -1\n" + IRIS, "seed: must be an integer in [0, 4294967295]", "-1"),
    "seed 2**32": ("seed: 4294967296\n" + IRIS, "seed: must be an integer", "got 4294967296"),
    "seed float": ("seed: 1.5\n" + IRIS, "seed: must be an integer", "got 1.5"),
    "seed string": ("seed: '0'\n" + IRIS, "seed: must be an integer", "got '0'"),
    "seed bool": ("seed: false\n" + IRIS, "seed: must be an integer", "got False"),
    # rules an optimizer's declaration sets
    "adamw with L2 weight decay": (
        IRIS + "train: {weight_decay: 0.01, optimizer: {name: adamw}}\n",
        "train.weight_decay: must be 0 with adamw",
        "got 0.01",
    ),
    "adamw weight_decay negative": (
        IRIS + "train: {optimizer: {name: adamw, weight_decay: -1}}\n",
        "train.optimizer.weight_decay: must be a number >= 0",
    ),
    "rmsprop alpha 1": (
        IRIS + "train: {optimizer: {name: rmsprop, alpha: 1}}\n",
        "train.optimizer.alpha: must be a number in [0, 1)",
        "got 1",
    ),
    "lbfgs memory 0": (
        IRIS + "train: {optimizer: {name: lbfgs, memory: 0}}\n",
        "train.optimizer.memory: must be an integer >= 1",
    ),
    "lbfgs with a schedule": (
        IRIS + "train: {optimizer: {name: lbfgs}, lr_schedule: {name: cosine}}\n",
        "train.lr_schedule: lbfgs chooses its own step lengths",
    ),
    "lbfgs has no lr": (
        IRIS + "train: {optimizer: {name: lbfgs, lr: 0.1}}\n",
        "train.optimizer.lr: unknown key (valid: max_fun, memory, name, tol)",
    ),
    # more kinds of wrong value
    "python tag": ("!!python/object/apply:os.getcwd []\n", "!!python"),
    "string for int": ("data: {dataset: iris}\ntrain: {epochs: ten}\n", "train.epochs"),
    "float for int": ("data: {dataset: iris}\ntrain: {batch_size: 3.5}\n", "train.batch_size"),
    "bool for number": ("data: {dataset: iris}\ntrain: {weight_decay: true}\n", "weight_decay"),
    "bool for int": ("data: {dataset: iris}\nmodel: {hidden: [true]}\n", "model.hidden"),
    "negative epochs": ("data: {dataset: iris}\ntrain: {epochs: -5}\n", "train.epochs"),
    "nan lr": ("data: {dataset: iris}\ntrain: {optimizer: {lr: .nan}}\n", "must be finite"),
    "inf decay": ("data: {dataset: iris}\ntrain: {weight_decay: .inf}\n", "must be finite"),
    "unknown activation": ("data: {dataset: iris}\nmodel: {activation: gelu}\n", "gelu"),
}


@pytest.mark.parametrize("case", list(BAD_CONFIGS))
def test_bad_config(mlp_fast, earlier_run, tmp_path, case):
    text, *fragments = BAD_CONFIGS[case]
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    before = snapshot(earlier_run)
    # aimed straight at the earlier run, with --overwrite: it must still be left alone
    train = mlp_fast("train", "--config", path, "--out", earlier_run, "--overwrite")
    for result in (train, mlp_fast("gradcheck", "--config", path)):
        check(result, f"error: {path}: ")  # the file first, then the key and what is wrong
        assert all(fragment in result.stderr for fragment in fragments), result.stderr
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
    "missing cell": ("a,b,label\n1,2,x\n3,,y\n", "line 3, column 'b'"),
    "nan is missing": ("a,b,label\n1,2,x\n3,nan,y\n", "data.missing: impute"),
    "missing label": ("a,b,label\n1,2,x\n3,4,NA\n", "the label is missing"),
    "infinity": ("a,b,label\n1,-inf,x\n3,4,y\n", "-inf"),
    "single class": ("a,b,label\n1,2,x\n3,4,x\n5,6,x\n", "only 1 class 'x'"),
    "one sample": ("a,b,label\n1,2,x\n", "a classifier needs at least 2"),
    "numbers for a header": ("1,2,3\n4,5,6\n", "data.header: false"),
    "an id used as label": (
        "a,label,id\n" + "".join(f"{i},{'xy'[i % 2]},{1000 + i}\n" for i in range(30)),
        "data.target: label",
    ),
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
    "wrong shape": (
        lambda a: a.update(W2=np.zeros((5, a["b2"].shape[0]))),
        "W2 has 5 inputs",
    ),
}


@pytest.mark.parametrize("case", list(CHECKPOINTS))
def test_bad_checkpoint(mlp_cli, earlier_run, tmp_path, case):
    change, culprit = CHECKPOINTS[case]
    before = snapshot(earlier_run)
    run = damaged_copy(earlier_run, tmp_path, change)
    # the run no longer holds the model its summary names: eval refuses it as damaged
    check(mlp_cli("eval", run), "model.npz: damaged")
    # the model file itself, handed to predict, is refused for what is wrong inside it
    check(mlp_cli("predict", run / "model.npz", tmp_path / "in.csv"), culprit)
    assert "model.npz" in mlp_cli("predict", run / "model.npz", tmp_path / "in.csv").stderr
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
    check(mlp_cli("eval", run), "differs from the data the run recorded")
    assert "--data" in mlp_cli("eval", run).stderr
    other = tmp_path / "other.csv"
    other.write_text("a,label\n" + "\n".join(f"{r.split(',')[0]},{r[-1]}" for r in rows))
    check(mlp_cli("eval", run, "--data", other), "missing the model's feature column(s) 'b'")
    other.write_text("a,b,label\n" + "\n".join(r.replace(",c", ",d") for r in rows) + "\n")
    check(mlp_cli("eval", run, "--data", other), "label 'd' is not one of the model's classes")


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
