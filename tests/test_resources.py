"""A network too big for the machine is refused before anything is allocated."""

import os
from pathlib import Path

import numpy as np
import pytest

import cli.resources
from cli.config import ConfigError, load_config
from cli.resources import GIB, available_memory, check_fits_in_memory, run_bytes
from mlp.network import MLP
from mlp.optimizers import OPTIMIZERS

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
GOOD = "seed: 0\ndata: {dataset: iris}\nmodel: {hidden: [4]}\ntrain: {epochs: 2, batch_size: 16}\n"


@pytest.mark.parametrize(("dtype", "expected"), [("float64", 1208), ("float32", 628)])
def test_run_bytes_counts_parameters_optimizer_and_one_batch_by_hand(dtype, expected):
    # [2, 3, 2]: 2*3 + 3 + 3*2 + 2 = 17 parameters, kept 5 times (params, grad, SGD's scratch
    # and velocity, one copy) = 85 floats; a batch of 4 rows holds X (2), z (3 + 2), the
    # softmax (2), deltas and slopes (3 + 3) = 15 floats a row, 60 in all; 145 floats of the
    # dtype, plus the largest weight matrix drawn in float64: 6 * 8 = 48 bytes.
    assert run_bytes([2, 3, 2], dtype, batch_size=4, optimizer=2, copies=1) == expected


def test_available_memory_is_positive_and_at_most_the_physical_memory():
    physical = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    assert 0 < available_memory() <= physical


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_each_optimizer_declares_at_least_the_state_it_keeps(name):
    """After a few steps, the parameter-sized floats an optimizer's state holds (its saved
    state, as resume.npz keeps it) fit in the vectors it declares for the memory check."""
    cls = OPTIMIZERS[name]
    model = MLP([5, 7, 3], np.random.default_rng(0))
    X, y = np.random.default_rng(1).normal(size=(20, 5)), np.arange(20) % 3
    optimizer = cls()
    optimizer.bind(model.weight_mask)

    def objective():
        return model.loss_and_grad(X, y)

    for _ in range(4):
        if cls.full_batch:
            optimizer.iterate(model.params, objective)
        else:
            optimizer.step(model.params, objective()[1])
    state = optimizer.state_dict()
    floats = sum(np.asarray(v).size for v in state.values() if np.asarray(v).size > 1)
    declared = cls.memory_vectors(optimizer.hyperparameters())
    assert floats <= declared * model.n_params
    assert floats >= model.n_params or name == "sgd"  # each keeps some state (SGD: velocity)


def test_the_example_config_fits_and_a_thousandfold_one_would_not():
    config = load_config(CONFIGS / "example.yaml")
    check_fits_in_memory(config, [13, *config.model.hidden, 3], 178)  # wine: 178 x 13, 3 classes
    huge = [13, 10**6 * max(config.model.hidden), 3]
    with pytest.raises(ConfigError, match=r"model\.hidden: a 13 -> .* network needs about"):
        check_fits_in_memory(config, huge, 178)


def test_a_hundred_million_unit_layer_is_refused_in_one_line_before_allocating(
    mlp_cli, tmp_path, monkeypatch
):
    monkeypatch.setattr(cli.resources, "available_memory", lambda: int(21.8 * GIB))
    (tmp_path / "good.yaml").write_text(GOOD)
    result = mlp_cli(
        "train", "--config", tmp_path / "good.yaml", "--set", "model.hidden=[100000000]",
        "--out", tmp_path / "run",
    )  # fmt: skip
    assert result.exit_code == 2, (result.stdout, result.stderr)
    # iris: 4 -> 1e8 -> 3 is 8e8 parameters kept 5 times (4e9 floats) plus a batch of 16 rows
    # of 3e8 floats (4.8e9), in float64, plus the 4e8-float draw: 73.6e9 bytes = 68.5 GiB.
    assert result.stderr.strip() == (
        "error: model.hidden: a 4 -> 100000000 -> 3 network needs about 68.5 GiB; "
        "21.8 GiB is available"
    )
    assert not (tmp_path / "run").exists()


def test_the_refusal_is_a_config_error_on_model_hidden(monkeypatch):
    monkeypatch.setattr(cli.resources, "available_memory", lambda: 1000)
    config = load_config(CONFIGS / "example.yaml")
    with pytest.raises(ConfigError) as info:
        check_fits_in_memory(config, [13, *config.model.hidden, 3], 178)
    assert info.value.key == "model.hidden" and "0.0 GiB is available" in str(info.value)
