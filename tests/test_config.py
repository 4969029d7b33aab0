"""Config files and --set overrides: defaults, round trips, and every way to get one wrong.

Expected values come from the schema as documented (configs/example.yaml, the README), not from
the dataclasses under test.
"""

import copy
import dataclasses
import operator
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from cli.config import (
    AdamConfig,
    ConfigError,
    SGDConfig,
    apply_override,
    config_to_dict,
    dump_config,
    load_config,
    parse_config,
    safe_load,
)

# The schema as documented, every key spelled out with its default.
EXAMPLE = """
seed: 0
data:
  dataset: digits       # digits | iris | wine | breast_cancer, or a path to a .csv
  target: null          # CSV only: the label column (default null = the last column)
  test_size: 0.2
  val_size: 0.1
  standardize: true
model:
  hidden: [128]
  activation: sigmoid
  dtype: float64
  init_from: null
train:
  epochs: 50
  batch_size: 32
  shuffle: true
  weight_decay: 0.0
  optimizer: {name: sgd, lr: 0.1, momentum: 0.9, nesterov: false}
"""

DEFAULTS = {
    "seed": 0,
    "data": {
        "dataset": "digits",
        "target": None,
        "test_size": 0.2,
        "val_size": 0.1,
        "standardize": True,
    },
    "model": {"hidden": [128], "activation": "sigmoid", "dtype": "float64", "init_from": None},
    "train": {
        "epochs": 50,
        "batch_size": 32,
        "shuffle": True,
        "weight_decay": 0.0,
        "optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": False},
        "lr_schedule": {"name": "constant"},
        "early_stopping": None,
    },
}

# Nothing left at its default.
FULL = """
seed: 7
data: {dataset: wine, target: null, test_size: 0.25, val_size: 0.0, standardize: false}
model: {hidden: [16, 8], activation: sigmoid, dtype: float32, init_from: start.npz}
train:
  epochs: 3
  batch_size: 4
  shuffle: false
  weight_decay: 1e-4
  optimizer: {name: adam, lr: 3e-3, beta1: 0.8, beta2: 0.99, eps: 1e-6}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def flatten(tree: dict, prefix: str = "") -> dict:
    """{'train': {'epochs': 5}} -> {'train.epochs': 5}."""
    flat = {}
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, path + "."))
        else:
            flat[path] = value
    return flat


# -- defaults and round trips ---------------------------------------------------------------------


def test_a_minimal_config_gets_every_documented_default():
    config = parse_config({"data": {"dataset": "iris"}})
    assert config_to_dict(config) == {**DEFAULTS, "data": {**DEFAULTS["data"], "dataset": "iris"}}
    assert config.model.hidden == (128,)
    assert config.train.optimizer == SGDConfig(lr=0.1, momentum=0.9, nesterov=False)
    assert config.train.optimizer.name == "sgd"


def test_the_documented_example_spells_out_exactly_the_defaults(tmp_path):
    assert config_to_dict(load_config(write(tmp_path, EXAMPLE))) == DEFAULTS


@pytest.mark.parametrize("text", [EXAMPLE, FULL], ids=["example", "full"])
def test_a_config_round_trips_through_dict_and_yaml(tmp_path, text):
    config = load_config(write(tmp_path, text))
    assert parse_config(config_to_dict(config)) == config
    assert parse_config(yaml.safe_load(dump_config(config))) == config
    assert load_config(write(tmp_path, dump_config(config))) == config


def test_every_non_default_value_is_read():
    config = parse_config(safe_load(FULL))
    assert config.seed == 7
    assert (config.data.dataset, config.data.test_size, config.data.val_size) == ("wine", 0.25, 0)
    assert config.data.standardize is False
    assert (config.model.hidden, config.model.dtype, config.model.init_from) == (
        (16, 8),
        "float32",
        "start.npz",
    )
    assert (config.train.epochs, config.train.batch_size, config.train.shuffle) == (3, 4, False)
    assert config.train.weight_decay == 1e-4
    assert config.train.optimizer == AdamConfig(lr=0.003, beta1=0.8, beta2=0.99, eps=1e-6)
    assert config.train.optimizer.name == "adam"


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        # the defaults of torch.optim.AdamW and RMSprop, and of MLPClassifier(solver="lbfgs")
        ({"name": "adamw"}, dict(lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01)),
        ({"name": "rmsprop"}, dict(lr=0.01, alpha=0.99, eps=1e-8, momentum=0.0)),
        ({"name": "lbfgs"}, dict(memory=10, tol=1e-4, max_fun=15000)),
    ],
)
def test_the_new_optimizers_defaults(section, expected):
    config = parse_config({"data": {"dataset": "iris"}, "train": {"optimizer": section}})
    assert dataclasses.asdict(config.train.optimizer) == expected
    assert config_to_dict(config)["train"]["optimizer"] == {**section, **expected}
    assert config.notes == ()


def test_lbfgs_notes_the_batch_settings_it_ignores():
    raw = {"data": {"dataset": "iris"}, "train": {"optimizer": {"name": "lbfgs"}, "batch_size": 8}}
    [note] = parse_config(raw).notes
    assert "train.batch_size do not apply" in note and "shuffle" not in note
    raw["train"]["shuffle"] = False
    [note] = parse_config(raw).notes
    assert "train.batch_size and train.shuffle do not apply" in note
    assert "notes" not in config_to_dict(parse_config(raw))


def test_the_dumped_yaml_lists_keys_in_schema_order():
    dumped = yaml.safe_load(dump_config(parse_config(safe_load(FULL))))
    assert list(dumped) == ["seed", "data", "model", "train"]
    assert list(dumped["data"]) == list(DEFAULTS["data"])
    assert list(dumped["model"]) == list(DEFAULTS["model"])
    assert list(dumped["train"]) == list(DEFAULTS["train"])
    assert dumped["model"]["hidden"] == [16, 8]  # a list, as written
    assert list(dumped["train"]["optimizer"]) == ["name", "lr", "beta1", "beta2", "eps"]


def test_scientific_notation_without_a_dot_is_a_number():
    assert safe_load("lr: 1e-3") == {"lr": 0.001}  # PyYAML alone reads the string '1e-3'
    assert safe_load("[1E5, -2e-2, .5, 3]") == [100000.0, -0.02, 0.5, 3]


@pytest.mark.parametrize(
    ("text", "attribute", "value"),
    [
        ("data: {dataset: iris, standardize: yes}", "data.standardize", True),
        ("data: {dataset: iris}\ntrain: {shuffle: off}", "train.shuffle", False),
        ("data: {dataset: iris, test_size: 0}", "data.test_size", 0.0),
        ("data: {dataset: iris, val_size: 0.999}", "data.val_size", 0.999),
        ("data: {dataset: runs/my.csv}", "data.dataset", "runs/my.csv"),
        ("data: {dataset: runs/my.csv, target: label}", "data.target", "label"),
        ("data: {dataset: iris}\nmodel: {hidden: []}", "model.hidden", ()),
        ("data: {dataset: iris}\nmodel: {init_from: null}", "model.init_from", None),
        ("data: {dataset: iris}\ntrain: {weight_decay: 1}", "train.weight_decay", 1.0),
        (
            "data: {dataset: iris}\ntrain: {optimizer: {momentum: 0}}",
            "train.optimizer.momentum",
            0.0,
        ),
        ("seed: 4294967295\ndata: {dataset: iris}", "seed", 2**32 - 1),
    ],
    ids=[
        "yaml-1.1-yes-is-true",
        "yaml-1.1-off-is-false",
        "no-test-split",
        "val-size-just-below-1",
        "relative-csv-path-kept-as-written",
        "csv-target",
        "no-hidden-layers",
        "null-init-from",
        "int-for-float",
        "sgd-without-momentum",
        "largest-seed",
    ],
)
def test_values_on_the_edge_of_the_rules_are_accepted(tmp_path, text, attribute, value):
    got = operator.attrgetter(attribute)(load_config(write(tmp_path, text)))
    assert got == value and type(got) is type(value)


def test_numbers_for_float_keys_are_stored_as_floats():
    config = parse_config(
        {"data": {"dataset": "iris", "test_size": 0}, "train": {"weight_decay": 1}}
    )
    assert isinstance(config.data.test_size, float) and isinstance(config.train.weight_decay, float)


def test_the_optimizer_name_defaults_to_sgd():
    config = parse_config({"data": {"dataset": "iris"}, "train": {"optimizer": {"lr": 0.5}}})
    assert config.train.optimizer == SGDConfig(lr=0.5)


def test_nesterov_with_momentum_is_accepted():
    raw = {"data": {"dataset": "iris"}, "train": {"optimizer": {"nesterov": True}}}
    assert parse_config(raw).train.optimizer == SGDConfig(nesterov=True)


# -- bad files ------------------------------------------------------------------------------------

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
        "extra: unknown key (valid: data, model, seed, train)",
    ),
    "unknown data key": (
        "data: {dataset: iris, colour: red}\n",
        "data.colour: unknown key (valid: dataset, standardize, target, test_size, val_size)",
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
        "data.dataset: must be one of digits, iris, wine, breast_cancer, or a path to a .csv",
        "got 'mnist'",
    ),
    "dataset not csv": ("data: {dataset: data.txt}\n", "data.dataset", "got 'data.txt'"),
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
}


@pytest.mark.parametrize("case", list(BAD_CONFIGS))
def test_a_bad_config_raises_one_line_naming_the_file_key_and_value(tmp_path, case):
    text, *fragments = BAD_CONFIGS[case]
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    for fragment in fragments:
        assert fragment in message


def test_python_object_tags_are_refused_and_never_run(tmp_path):
    marker = tmp_path / "pwned"
    path = write(tmp_path, f'!!python/object/apply:os.system ["touch {marker}"]\n')
    with pytest.raises(ConfigError, match=r"line 1, column 1: .*\(no !!python tags\)$"):
        load_config(path)
    assert not marker.exists()


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"absent\.yaml: no such config file$"):
        load_config(tmp_path / "absent.yaml")


def test_a_directory_is_not_a_config_file(tmp_path):
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path)


def test_a_file_that_is_not_utf8_is_named(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("data: {dataset: café.csv}\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"latin1\.yaml: not UTF-8 text$"):
        load_config(path)


def test_an_unreadable_file_is_named(tmp_path, monkeypatch):
    path = write(tmp_path, IRIS)

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    # chmod 000 does not stop root, so the refusal is simulated
    monkeypatch.setattr(Path, "read_text", refuse)
    with pytest.raises(ConfigError, match=r"config\.yaml: cannot be read \(Permission denied\)$"):
        load_config(path)


# -- overrides ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("override", "key", "value"),
    [
        ("seed=9", "seed", 9),
        ("data.dataset=wine", "data.dataset", "wine"),
        ("data.test_size=0", "data.test_size", 0.0),
        ("data.standardize=false", "data.standardize", False),
        ("model.hidden=[64, 32]", "model.hidden", [64, 32]),
        ("model.dtype=float32", "model.dtype", "float32"),
        ("model.init_from=start.npz", "model.init_from", "start.npz"),
        ("train.epochs=5", "train.epochs", 5),
        ("train.shuffle=false", "train.shuffle", False),
        ("train.optimizer.lr=1e-2", "train.optimizer.lr", 0.01),
        ("train.optimizer.nesterov=true", "train.optimizer.nesterov", True),
    ],
)
def test_an_override_changes_exactly_its_key(override, key, value):
    raw = {"data": {"dataset": "iris"}}
    before = flatten(config_to_dict(parse_config(raw)))
    after = flatten(config_to_dict(parse_config(raw, [override])))
    assert after[key] == value and type(after[key]) is type(value)
    assert {k for k in after if after[k] != before[k]} == {key}


def test_apply_override_leaves_its_input_alone():
    raw = {"data": {"dataset": "iris"}, "train": {"optimizer": {"name": "sgd", "lr": 0.5}}}
    snapshot = copy.deepcopy(raw)
    changed = apply_override(raw, "train.optimizer.lr=0.01")
    assert raw == snapshot
    assert changed["train"]["optimizer"] == {"name": "sgd", "lr": 0.01}
    changed["data"]["dataset"] = "wine"  # the copy shares nothing with the input
    assert raw == snapshot
    parse_config(raw, ["train.epochs=5", "model.hidden=[3]", "train.optimizer={name: adam}"])
    assert raw == snapshot


def test_an_override_creates_the_sections_on_its_way():
    assert apply_override({}, "train.optimizer.lr=0.5") == {"train": {"optimizer": {"lr": 0.5}}}
    raw = {"data": {"dataset": "iris"}, "train": {"early_stopping": None}}  # as a run saves it
    config = parse_config(raw, ["train.early_stopping.patience=2"])
    assert config.train.early_stopping is not None and config.train.early_stopping.patience == 2


def test_an_override_may_set_a_whole_section_then_keys_inside_it():
    raw = {"data": {"dataset": "iris"}, "train": {"optimizer": {"momentum": 0.5}}}
    config = parse_config(raw, ["train.optimizer={name: adam}", "train.optimizer.beta1=0.5"])
    assert config.train.optimizer == AdamConfig(beta1=0.5)


def test_the_last_override_of_a_key_wins():
    config = parse_config({"data": {"dataset": "iris"}}, ["train.epochs=5", "train.epochs=7"])
    assert config.train.epochs == 7


def test_an_override_can_mend_a_bad_value_in_the_file():
    raw = {"data": {"dataset": "iris"}, "train": {"epochs": 0}}
    assert parse_config(raw, ["train.epochs=3"]).train.epochs == 3


def test_overrides_can_supply_a_whole_config_to_an_empty_file(tmp_path):
    config = load_config(write(tmp_path, ""), ["data.dataset=iris"])
    assert config == parse_config({"data": {"dataset": "iris"}})


def test_overrides_apply_to_a_config_file(tmp_path):
    config = load_config(write(tmp_path, FULL), ["train.optimizer.eps=1e-7", "seed=1"])
    assert config.train.optimizer == AdamConfig(lr=0.003, beta1=0.8, beta2=0.99, eps=1e-7)
    assert config.seed == 1


@pytest.mark.parametrize(
    ("override", "culprit"),
    [
        ("train.epochs=abc", "--set train.epochs=abc: train.epochs: must be an integer >= 1"),
        ("train.epochs=", "--set train.epochs=: train.epochs: must be an integer >= 1, got None"),
        ("train.epochs=2.5", "train.epochs: must be an integer >= 1, got 2.5"),
        ("data.val_size=false", "--set data.val_size=false: data.val_size: must be a number"),
        ("data.test_size=.inf", "data.test_size: must be finite, got inf"),
        ("model.hidden=64", "--set model.hidden=64: model.hidden: must be a list"),
        ("train.optimizer={name: lion}", "train.optimizer.name: must be one of sgd, adam, adamw"),
        ("train.lr=0.1", "--set train.lr=0.1: train.lr: unknown key (valid: batch_size,"),
        ("colour=red", "--set colour=red: colour: unknown key (valid: data, model, seed, train)"),
        ("data.colour=red", "data.colour: unknown key (valid: dataset, standardize, target"),
        ("train.optimizer.beta1=0.5", "train.optimizer.beta1: unknown key (valid: lr, momentum"),
        ("seed.x=1", "--set seed.x=1: seed.x: unknown key (it has no sub-keys)"),
        ("train.epochs.x=1", "train.epochs.x: unknown key (it has no sub-keys)"),
        ("train.epochs", "--set train.epochs: expected KEY=VALUE"),
        ("=3", "--set =3: expected KEY=VALUE"),
        (" =3", "expected KEY=VALUE"),
        ("train..epochs=3", "--set train..epochs=3: expected KEY=VALUE"),
        (".epochs=3", "expected KEY=VALUE"),
        ("train.=3", "expected KEY=VALUE"),
        ("model.hidden=[1, 2", "--set model.hidden=[1, 2: the value is not valid YAML"),
        ("data.dataset='iris", "the value is not valid YAML at line 1"),
    ],
)
def test_a_bad_override_is_named_in_one_line(override, culprit):
    with pytest.raises(ConfigError) as info:
        parse_config({"data": {"dataset": "iris"}}, [override])
    assert culprit in str(info.value) and "\n" not in str(info.value)


def test_a_python_tag_in_an_override_is_refused_and_never_run(tmp_path):
    marker = tmp_path / "pwned"
    override = f'data.dataset=!!python/object/apply:os.system ["touch {marker}"]'
    with pytest.raises(ConfigError, match=r"^--set data\.dataset=.*\(no !!python tags\)$"):
        parse_config({"data": {"dataset": "iris"}}, [override])
    assert not marker.exists()


def test_an_override_cannot_reach_inside_a_value_that_is_not_a_mapping():
    with pytest.raises(ConfigError, match=r"^--set train\.epochs=5: train: is 3, not a mapping"):
        parse_config({"data": {"dataset": "iris"}, "train": 3}, ["train.epochs=5"])


def test_changing_the_optimizer_by_name_is_blamed_for_keys_it_no_longer_has():
    raw = {"data": {"dataset": "iris"}, "train": {"optimizer": {"momentum": 0.5}}}
    with pytest.raises(ConfigError, match=r"^--set train\.optimizer\.name=adam: .*\.momentum: unk"):
        parse_config(raw, ["train.optimizer.name=adam"])


def test_a_bad_value_in_the_file_is_still_blamed_on_the_file(tmp_path):
    path = write(tmp_path, IRIS + "train: {epochs: 0}\n")
    with pytest.raises(ConfigError, match=rf"^{path}: train\.epochs: must be"):
        load_config(path, ["seed=1", "train.batch_size=8"])


# -- properties -----------------------------------------------------------------------------------

SCHEMA_NAMES = ["seed", "data", "model", "train", "dataset", "target", "test_size", "hidden"]
SCHEMA_NAMES += ["activation", "epochs", "shuffle", "optimizer", "name", "lr", "nesterov", "eps"]

yaml_leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8)
    | st.sampled_from(["iris", "a.csv", "sgd", "adam", "sigmoid", "float32"])
)
yaml_values = st.recursive(
    yaml_leaves,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(SCHEMA_NAMES) | st.text(max_size=6), children, max_size=5)
    ),
    max_leaves=20,
)


@settings(max_examples=100, deadline=None)
@given(yaml_values)
def test_any_yaml_value_gives_a_config_or_a_one_line_config_error(raw):
    try:
        config = parse_config(raw)
    except ConfigError as err:
        assert "\n" not in str(err)
    else:
        assert parse_config(config_to_dict(config)) == config


LEAVES = sorted(flatten(DEFAULTS))


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(LEAVES), yaml_values)
def test_a_bad_value_at_any_key_is_blamed_on_that_key(key, value):
    raw = copy.deepcopy(DEFAULTS)
    *sections, last = key.split(".")
    node = raw
    for section in sections:
        node = node[section]
    node[last] = value
    try:
        parse_config(raw)
    except ConfigError as err:
        # a new optimizer or schedule name makes the section's other keys the culprits
        scope = key.rpartition(".")[0] if last == "name" else key
        assert err.key == scope or err.key.startswith(scope + "."), str(err)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from([*LEAVES, "train", "x.y", ""]), st.text(max_size=12))
def test_any_override_string_gives_a_config_or_a_config_error(key, text):
    try:
        parse_config({"data": {"dataset": "iris"}}, [f"{key}={text}"])
    except ConfigError as err:
        assert "\n" not in str(err)
