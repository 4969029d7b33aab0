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
    OPTIMIZERS,
    ConfigError,
    apply_override,
    config_to_dict,
    dump_config,
    load_config,
    parse_config,
    safe_load,
)

SGDConfig, AdamConfig = OPTIMIZERS["sgd"], OPTIMIZERS["adam"]

# The schema as documented, every key spelled out with its default.
EXAMPLE = """
seed: 0
data:
  dataset: digits       # digits | iris | wine | breast_cancer, or a path to a .csv
  target: null          # CSV only: the label column (default null = the last column)
  test_size: 0.2
  val_size: 0.1
  standardize: true
  drop: []
  id: null
  categorical: auto
  missing: error
  delimiter: auto
  header: true
  decimal: auto
  max_categories: 50
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
    "task": "auto",
    "data": {
        "dataset": "digits",
        "target": None,
        "test_size": 0.2,
        "val_size": 0.1,
        "standardize": True,
        "standardize_target": True,
        "drop": [],
        "id": None,
        "categorical": "auto",
        "missing": "error",
        "delimiter": "auto",
        "header": True,
        "decimal": "auto",
        "max_categories": 50,
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
        "class_weight": "none",
        "diagnostics": True,
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
    assert list(dumped) == ["seed", "task", "data", "model", "train"]
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

# The bad-config cases: one table, run through the commands, in tests/test_bad_input.py.


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
    monkeypatch.setattr(Path, "open", refuse)  # (read no further than yamlsafe.MAX_BYTES)
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
        (
            "colour=red",
            "--set colour=red: colour: unknown key (valid: data, model, seed, task, train)",
        ),
        ("data.colour=red", "data.colour: unknown key (valid: categorical, dataset, decimal,"),
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


def test_changing_the_optimizer_by_name_leaves_out_the_keys_it_does_not_take():
    raw = {"data": {"dataset": "iris"}, "train": {"optimizer": {"momentum": 0.5, "lr": 0.2}}}
    config = parse_config(raw, ["train.optimizer.name=adam"])
    assert config.train.optimizer == AdamConfig(lr=0.2)  # lr carried over, momentum left out
    assert config.notes == (
        "--set train.optimizer.name=adam left out train.optimizer.momentum (not taken by it)",
    )
    # A key set after the switch is still checked against the new optimizer.
    with pytest.raises(ConfigError, match=r"^--set train\.optimizer\.momentum=0\.5: .*unknown"):
        parse_config(raw, ["train.optimizer.name=adam", "train.optimizer.momentum=0.5"])


def test_every_mistake_in_a_config_is_reported_at_once_one_line_each(tmp_path, mlp_cli):
    path = write(
        tmp_path,
        "data: {dataset: iris, test_size: 2}\nmodel: {hiden: [4]}\ntrain: {epochs: 0}\n",
    )
    result = mlp_cli("train", "--config", path, "--set", "train.batch_size=0")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.splitlines() == [
        f"error: {path}: data.test_size: must be a number in [0, 1), got 2",
        f"error: {path}: model.hiden: unknown key (valid: activation, dtype, hidden, init_from)",
        f"error: {path}: train.epochs: must be an integer >= 1, got 0",
        "error: --set train.batch_size=0: train.batch_size: must be an integer >= 1, got 0",
    ]
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert (caught.value.key, caught.value.detail) == (
        "data.test_size",
        "must be a number in [0, 1), got 2",
    )
    assert len(caught.value.errors) == 3


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
def test_any_yaml_value_gives_a_config_or_a_config_error_of_one_line_per_mistake(raw):
    try:
        config = parse_config(raw)
    except ConfigError as err:
        assert str(err).splitlines() == [str(one) for one in err.errors]
        assert all("\n" not in str(one) and one.errors == (one,) for one in err.errors)
        assert (err.key, err.detail) == (err.errors[0].key, err.errors[0].detail)
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


@pytest.mark.parametrize(
    "value, cleaned",
    [
        (None, "none"),
        ("none", "none"),
        ("balanced", "balanced"),
        ({"rare": 5, 1: 2.5}, {"rare": 5.0, "1": 2.5}),
    ],
)
def test_class_weight_takes_none_balanced_or_a_mapping(value, cleaned):
    raw = {"data": {"dataset": "iris"}, "train": {"class_weight": value}}
    assert parse_config(raw).train.class_weight == cleaned


@pytest.mark.parametrize("value", ["heavy", [1], {}, {"a": 0}, {"a": -1}, {"a": "x"}, {True: 1}])
def test_a_bad_class_weight_is_named_in_one_line(value):
    raw = {"data": {"dataset": "iris"}, "train": {"class_weight": value}}
    with pytest.raises(ConfigError) as info:
        parse_config(raw)
    assert "train.class_weight: must be none or balanced, or a mapping of class labels" in str(
        info.value
    )
