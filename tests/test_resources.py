"""A network too big for the machine is refused before anything is allocated."""

import os
from pathlib import Path

import pytest

import cli.resources
from cli.config import ConfigError, load_config
from cli.resources import GIB, available_memory, check_fits_in_memory, run_bytes

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


def test_the_example_config_fits_on_this_machine():
    config = load_config(CONFIGS / "example.yaml")
    check_fits_in_memory(config, [13, *config.model.hidden, 3], 178)  # wine: 178 x 13, 3 classes


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
