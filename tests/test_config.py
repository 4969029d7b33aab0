"""Config files and --set overrides: defaults, round trips, and every way to get one wrong."""

import math

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

FULL = """
seed: 7
data: {dataset: wine, target: null, test_size: 0.25, val_size: 0.0, standardize: false}
model: {hidden: [16, 8], activation: sigmoid, dtype: float32, init_from: null}
train:
  epochs: 3
  batch_size: 4
  shuffle: false
  weight_decay: 1e-4
  optimizer: {name: adam, lr: 3e-3, beta1: 0.8, beta2: 0.99, eps: 1e-6}
"""


def write(tmp_path, text):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def test_defaults_fill_in_every_key_but_the_dataset():
    config = parse_config({"data": {"dataset": "iris"}})
    assert config.seed == 0
    assert (config.data.test_size, config.data.val_size, config.data.standardize) == (
        0.2,
        0.1,
        True,
    )
    assert (config.model.hidden, config.model.activation, config.model.dtype) == (
        (128,),
        "sigmoid",
        "float64",
    )
    assert (config.train.epochs, config.train.batch_size, config.train.shuffle) == (50, 32, True)
    assert config.train.optimizer == SGDConfig(lr=0.1, momentum=0.9, nesterov=False)


def test_a_full_config_round_trips_through_dict_and_yaml(tmp_path):
    config = load_config(write(tmp_path, FULL))
    assert config.train.optimizer == AdamConfig(lr=0.003, beta1=0.8, beta2=0.99, eps=1e-6)
    assert config.train.weight_decay == 1e-4 and config.model.hidden == (16, 8)
    assert parse_config(config_to_dict(config)) == config
    assert parse_config(yaml.safe_load(dump_config(config))) == config
    assert list(config_to_dict(config)) == ["seed", "data", "model", "train"]


def test_scientific_notation_without_a_dot_is_a_number():
    assert safe_load("lr: 1e-3") == {"lr": 0.001}  # PyYAML alone reads the string '1e-3'
    assert safe_load("[1E5, -2e-2, .5, 3]") == [100000.0, -0.02, 0.5, 3]


BAD_CONFIGS = [
    # (YAML text, text that must appear in the message)
    ("data: {dataset: iris\n", "invalid YAML"),
    ("data:\n  - dataset: iris\n  dataset: x\n", "invalid YAML"),
    ("", "the top level must be a mapping"),
    ("- 1\n- 2\n", "it is a list"),
    ("42\n", "it is a int"),
    ("seed: 0\n", "data.dataset: is required"),
    ("data: 3\n", "data: must be a mapping"),
    ("data: {dataset: iris}\nmodel: [1]\n", "model: must be a mapping"),
    ("data: {dataset: iris}\nextra: 1\n", "extra: unknown key (valid: data, model, seed, train)"),
    ("data: {dataset: iris, colour: red}\n", "data.colour: unknown key"),
    ("data: {dataset: iris}\nmodel: {layers: [3]}\n", "model.layers: unknown key"),
    ("data: {dataset: iris}\ntrain: {epochz: 3}\n", "train.epochz: unknown key"),
    ("data: {dataset: iris}\ntrain: {optimizer: {lrr: 1}}\n", "train.optimizer.lrr: unknown key"),
    ("data: {dataset: iris}\ntrain: {optimizer: {name: sgd, beta1: 0.9}}\n", "optimizer.beta1"),
    ("data: {dataset: iris}\ntrain: {optimizer: {name: adam, momentum: 0.9}}\n", "momentum"),
    ("data: {dataset: iris}\ntrain: {optimizer: {name: rmsprop}}\n", "sgd, adam, got 'rmsprop'"),
    ("data: {dataset: iris}\ntrain: {optimizer: 0.1}\n", "train.optimizer: must be a mapping"),
    ("data: {dataset: mnist}\n", "data.dataset: must be one of digits"),
    ("data: {dataset: 7}\n", "data.dataset: must be a non-empty string"),
    ("data: {dataset: iris, target: label}\n", "data.target: only a CSV"),
    ("data: {dataset: iris, test_size: 1.0}\n", "data.test_size: must be a number in [0.0, 1.0)"),
    ("data: {dataset: iris, val_size: -0.1}\n", "data.val_size"),
    ("data: {dataset: iris, test_size: .nan}\n", "data.test_size: must be finite"),
    ("data: {dataset: iris, standardize: 1}\n", "data.standardize: must be true or false"),
    ("data: {dataset: iris, standardize: 'yes please'}\n", "data.standardize"),
    ("data: {dataset: iris}\nmodel: {hidden: 128}\n", "model.hidden: must be a list"),
    ("data: {dataset: iris}\nmodel: {hidden: [0]}\n", "model.hidden: must be a list of integers"),
    ("data: {dataset: iris}\nmodel: {hidden: [2.5]}\n", "model.hidden"),
    ("data: {dataset: iris}\nmodel: {activation: swish}\n", "model.activation: must be one of"),
    ("data: {dataset: iris}\nmodel: {dtype: float16}\n", "model.dtype: must be one of float64"),
    ("data: {dataset: iris}\ntrain: {epochs: 0}\n", "train.epochs: must be an integer >= 1"),
    ("data: {dataset: iris}\ntrain: {epochs: 5.0}\n", "train.epochs: must be an integer"),
    ("data: {dataset: iris}\ntrain: {epochs: true}\n", "train.epochs: must be an integer"),
    ("data: {dataset: iris}\ntrain: {epochs: null}\n", "train.epochs"),
    ("data: {dataset: iris}\ntrain: {batch_size: '32'}\n", "train.batch_size"),
    ("data: {dataset: iris}\ntrain: {shuffle: 0}\n", "train.shuffle: must be true or false"),
    ("data: {dataset: iris}\ntrain: {weight_decay: -1}\n", "train.weight_decay"),
    ("data: {dataset: iris}\ntrain: {weight_decay: .inf}\n", "must be finite"),
    (
        "data: {dataset: iris}\ntrain: {optimizer: {lr: 0}}\n",
        "train.optimizer.lr: must be a number > 0",
    ),
    ("data: {dataset: iris}\ntrain: {optimizer: {lr: false}}\n", "train.optimizer.lr"),
    ("data: {dataset: iris}\ntrain: {optimizer: {momentum: 1.0}}\n", "train.optimizer.momentum"),
    ("data: {dataset: iris}\ntrain: {optimizer: {momentum: 0, nesterov: true}}\n", "momentum > 0"),
    ("data: {dataset: iris}\ntrain: {optimizer: {name: adam, beta2: 1}}\n", "optimizer.beta2"),
    ("data: {dataset: iris}\ntrain: {optimizer: {name: adam, eps: 0}}\n", "optimizer.eps"),
    ("seed: -1\ndata: {dataset: iris}\n", "seed: must be an integer in [0, 4294967295]"),
    ("seed: 1.5\ndata: {dataset: iris}\n", "seed"),
]


@pytest.mark.parametrize(("text", "culprit"), BAD_CONFIGS)
def test_bad_configs_raise_one_line_naming_the_file_and_culprit(tmp_path, text, culprit):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message and culprit in message and "\n" not in message


def test_python_object_tags_are_refused_and_never_run(tmp_path):
    marker = tmp_path / "pwned"
    path = write(tmp_path, f'!!python/object/apply:os.system ["touch {marker}"]\n')
    with pytest.raises(ConfigError, match="no !!python tags"):
        load_config(path)
    assert not marker.exists()


def test_missing_file_and_directory_are_named(tmp_path):
    with pytest.raises(ConfigError, match=r"absent\.yaml: no such config file"):
        load_config(tmp_path / "absent.yaml")
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path)


def test_overrides_change_exactly_their_key_and_leave_the_input_alone():
    raw = {"data": {"dataset": "iris"}, "train": {"optimizer": {"name": "sgd", "lr": 0.5}}}
    changed = apply_override(raw, "train.optimizer.lr=1e-2")
    assert raw["train"]["optimizer"]["lr"] == 0.5  # not mutated
    assert changed["train"]["optimizer"] == {"name": "sgd", "lr": 0.01}
    config = parse_config(raw, ["train.epochs=5", "model.hidden=[7, 3]", "seed=9"])
    assert (config.train.epochs, config.model.hidden, config.seed) == (5, (7, 3), 9)
    adam = parse_config(raw, ["train.optimizer={name: adam}", "train.optimizer.beta1=0.5"])
    assert adam.train.optimizer == AdamConfig(beta1=0.5)


@pytest.mark.parametrize(
    ("override", "culprit"),
    [
        ("train.epochs=abc", "--set train.epochs=abc: train.epochs: must be an integer >= 1"),
        ("train.lr=0.1", "--set train.lr=0.1: train.lr: unknown key"),
        ("train.optimizer.beta1=0.5", "train.optimizer.beta1: unknown key (valid: lr, momentum"),
        ("seed.x=1", "seed.x: unknown key (it has no sub-keys)"),
        ("epochs", "expected KEY=VALUE"),
        ("=3", "expected KEY=VALUE"),
        ("train..epochs=3", "expected KEY=VALUE"),
        ("model.hidden=[1, 2", "the value is not valid YAML"),
        ("data.test_size=.inf", "data.test_size: must be finite"),
    ],
)
def test_bad_overrides_are_named(override, culprit):
    with pytest.raises(ConfigError) as info:
        parse_config({"data": {"dataset": "iris"}}, [override])
    assert culprit in str(info.value) and "\n" not in str(info.value)


yaml_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "seed",
                    "data",
                    "model",
                    "train",
                    "dataset",
                    "hidden",
                    "epochs",
                    "optimizer",
                    "name",
                    "lr",
                    "x",
                    "test_size",
                    "dtype",
                ]
            ),
            children,
            max_size=5,
        )
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(yaml_values)
def test_any_yaml_value_either_loads_or_raises_config_error(raw):
    try:
        config = parse_config(raw)
    except ConfigError as err:
        assert "\n" not in str(err)
    else:
        assert parse_config(config_to_dict(config)) == config


@settings(max_examples=200, deadline=None)
@given(
    st.fixed_dictionaries(
        {"data": st.fixed_dictionaries({"dataset": st.sampled_from(["iris", "digits", "a.csv"])})},
        optional={
            "train": st.dictionaries(
                st.sampled_from(["epochs", "batch_size", "weight_decay", "shuffle"]),
                st.integers(-3, 3) | st.floats() | st.booleans(),
            )
        },
    )
)
def test_near_valid_configs_load_or_raise_config_error_with_finite_numbers(raw):
    try:
        config = parse_config(raw)
    except ConfigError:
        return
    assert config.train.epochs >= 1 and math.isfinite(config.train.weight_decay)
