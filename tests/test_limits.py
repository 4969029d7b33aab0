"""Bounded costs, checked before work: a sweep grid's size and a YAML file's size are refused in
one line, in a fraction of a second, however much they ask for."""

import time

import pytest

from cli import sweep
from cli.config import ConfigError, read_yaml
from cli.yamlsafe import MAX_BYTES, MAX_NODES

# nine keys of ten values: 10**9 points in a few hundred bytes
BILLION_POINTS = "".join(
    f"{key}: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\n"
    for key in (
        "seed",
        "train.epochs",
        "train.batch_size",
        "train.optimizer.lr",
        "train.weight_decay",
        "train.optimizer.momentum",
        "model.hidden",
        "data.val_size",
        "data.test_size",
    )
)


def timed(call):
    start = time.perf_counter()
    result = call()
    return result, time.perf_counter() - start


@pytest.mark.parametrize(
    ("grid", "count"),
    [
        (BILLION_POINTS, "1,000,000,000 points"),
        (
            "samples: 1000000000\ntrain.optimizer.lr: {low: 0.001, high: 0.1}\n",
            "1,000,000,000 samples",
        ),
    ],
)
def test_a_grid_of_a_billion_points_is_refused_at_once(mlp_cli, iris_config, tmp_path, grid, count):
    path = tmp_path / "grid.yaml"
    path.write_text(grid)
    result, seconds = timed(lambda: mlp_cli("sweep", "-c", iris_config, "--grid", path))
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {path}: {count}; a sweep takes at most 10,000 points "
        "(split the grid, or draw fewer samples)\n"
    )
    assert seconds < 1.0  # (loaded machines too; it used to reach 6.1 GB before a MemoryError)
    assert not (tmp_path / "runs").exists()


def test_the_grid_limit_is_ten_thousand_points(tmp_path):
    exactly = tmp_path / "exactly.yaml"  # 100 x 100
    values = ", ".join(str(i) for i in range(100))
    exactly.write_text(f"seed: [{values}]\ntrain.epochs: [{values}]\n")
    assert len(sweep.load_grid(exactly, seed=0)) == 10_000
    over = tmp_path / "over.yaml"  # 73 x 137 = 10,001
    over.write_text(
        f"seed: [{', '.join(map(str, range(73)))}]\n"
        f"train.epochs: [{', '.join(map(str, range(137)))}]\n"
    )
    with pytest.raises(ConfigError, match="10,001 points"):
        sweep.load_grid(over, seed=0)


def test_a_config_of_a_million_keys_is_refused_by_its_size(mlp_cli, tmp_path):
    path = tmp_path / "huge.yaml"
    path.write_text("".join(f"k{i}: {i}\n" for i in range(1_000_000)))  # 15.8 MB
    result, seconds = timed(lambda: mlp_cli("train", "-c", path))
    assert result.exit_code == 2
    assert (
        result.stderr == f"error: {path}: larger than {MAX_BYTES:,} bytes (a config or grid file)\n"
    )
    assert seconds < 1.0  # (loaded machines too; it used to take 66 s)


def test_a_config_under_the_size_limit_is_refused_at_its_ten_thousandth_node(tmp_path):
    path = tmp_path / "many.yaml"
    path.write_text("".join(f"k{i}: {i}\n" for i in range(60_000)))  # 0.8 MB, 120,001 nodes
    assert path.stat().st_size < MAX_BYTES
    # a mapping and 2 nodes a key: node 10,001 is the key on line 5,000
    start = time.perf_counter()
    with pytest.raises(ConfigError, match=f"line 5000, column 8: more than {MAX_NODES} YAML nodes"):
        read_yaml(path)
    assert time.perf_counter() - start < 1.0


def test_an_integer_too_long_to_convert_is_one_line(mlp_cli, tmp_path):
    path = tmp_path / "long.yaml"
    path.write_text("seed: " + "7" * 5000 + "\n")
    result = mlp_cli("train", "-c", path)
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {path}: invalid YAML at line 1, column 7: an integer of 5,000 digits is too long\n"
    )
