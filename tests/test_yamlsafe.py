"""The YAML loader: duplicate keys are errors, aliases cannot expand a file past MAX_NODES nodes.

Node counts below are counted by hand from the YAML text.
"""

import pytest
import yaml

from cli.yamlsafe import MAX_NODES, DuplicateKeyError, ExpansionError, expanded_size, safe_load

BASE = "seed: 0\ndata: {dataset: iris}\nmodel: {hidden: [4]}\ntrain: {epochs: 2, batch_size: 16}\n"

# Lines 5 and 9 both set train.optimizer.lr.
DUPLICATE_NESTED = """\
seed: 0
data: {dataset: iris}
train:
  optimizer:
    lr: 0.1
    name: sgd
    momentum: 0.9
    nesterov: false
    lr: 0.5
"""


def billion_laughs(first_line="train.epochs: [1]"):
    """Nine levels of ten aliases each: 10**9 scalars once written out, in ten lines."""
    lines = [first_line, "l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, 9)]
    return "\n".join(lines) + "\n"


def test_a_key_written_twice_names_the_key_and_both_lines():
    with pytest.raises(DuplicateKeyError) as info:
        safe_load(DUPLICATE_NESTED)
    assert "duplicate key 'lr' (first at line 5)" in info.value.problem
    assert info.value.problem_mark.line + 1 == 9
    with pytest.raises(DuplicateKeyError, match=r"duplicate key 'seed' \(first at line 1\)"):
        safe_load("seed: 0\ndata: {dataset: iris}\nseed: 1\n")


def test_keys_equal_as_values_are_duplicates_and_merge_keys_may_be_overridden():
    with pytest.raises(DuplicateKeyError, match="duplicate key 1"):
        safe_load("{1: a, 0x1: b}")  # both the integer 1
    text = "base: &b {lr: 0.1, momentum: 0.9}\nopt:\n  <<: *b\n  lr: 0.5\n"
    assert safe_load(text)["opt"] == {"lr": 0.5, "momentum": 0.9}


def test_expanded_size_counts_every_alias_as_written_out():
    # root 1 + key 'a' 1 + [1, 2] 3 + key 'b' 1 + the list of three aliases 1 + 3 * 3 = 16
    node = yaml.compose("a: &x [1, 2]\nb: [*x, *x, *x]\n", Loader=yaml.SafeLoader)
    assert expanded_size(node) == 16
    with pytest.raises(ExpansionError, match="YAML aliases expand past 15 nodes"):
        expanded_size(node, limit=15)
    assert safe_load("a: &x [1, 2]\nb: [*x, *x, *x]\n") == {"a": [1, 2], "b": [[1, 2]] * 3}


def test_a_billion_laughs_is_refused_by_counting_and_a_self_alias_too():
    with pytest.raises(ExpansionError, match=f"YAML aliases expand past {MAX_NODES} nodes"):
        safe_load(billion_laughs())
    with pytest.raises(ExpansionError, match="contains itself"):
        safe_load("a: &a [1, *a]\n")


def one_line(result, *parts):
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for part in parts:
        assert part in lines[0], lines[0]


def test_train_refuses_duplicate_keys_and_alias_bombs_in_its_config(mlp_cli, tmp_path):
    (tmp_path / "dup.yaml").write_text(DUPLICATE_NESTED)
    one_line(
        mlp_cli("train", "--config", tmp_path / "dup.yaml", "--out", tmp_path / "r"),
        "dup.yaml",
        "line 9",
        "duplicate key 'lr' (first at line 5)",
    )
    (tmp_path / "bomb.yaml").write_text(billion_laughs(first_line="seed: 0"))
    one_line(
        mlp_cli("train", "--config", tmp_path / "bomb.yaml", "--out", tmp_path / "r"),
        "bomb.yaml",
        f"YAML aliases expand past {MAX_NODES} nodes",
    )
    assert not (tmp_path / "r").exists()


def test_sweep_refuses_duplicate_keys_and_alias_bombs_in_its_grid(mlp_cli, tmp_path):
    (tmp_path / "base.yaml").write_text(BASE)
    grids = {
        "dup.yaml": ("train.epochs: [1, 2]\nmodel.hidden: [[4]]\ntrain.epochs: [3]\n", "line 3"),
        "bomb.yaml": (billion_laughs(), f"YAML aliases expand past {MAX_NODES} nodes"),
    }
    for name, (text, culprit) in grids.items():
        (tmp_path / name).write_text(text)
        result = mlp_cli(
            "sweep", "--config", tmp_path / "base.yaml", "--grid", tmp_path / name,
            "--out", tmp_path / "s",
        )  # fmt: skip
        one_line(result, name, culprit)
    assert not (tmp_path / "s").exists()
