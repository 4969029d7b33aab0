"""--json prints exactly one JSON object on stdout, for every command that has it: the result
when there is one (even a failing one), else {"error": ..., "exit_code": N} with the same code."""

import json

import pytest

CONFIG = (
    "seed: 1\ndata: {dataset: iris}\nmodel: {hidden: [4]}\ntrain: {epochs: 2, batch_size: 32}\n"
)


@pytest.fixture
def setup(tmp_path, mlp_cli):
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG)
    (tmp_path / "grid.yaml").write_text("train.optimizer.lr: [0.05, 0.1]\n")
    (tmp_path / "bad-grid.yaml").write_text("train.optimizer: [{name: sgd, lr: 1e308}]\n")
    assert (
        mlp_cli("train", "--config", config, "--out", tmp_path / "runs" / "r", "-q").exit_code == 0
    )
    return tmp_path


def cases(t):
    """(arguments, expected exit code, key the object must have)."""
    c = t / "c.yaml"
    return [
        (["train", "--config", c, "--out", t / "new"], 0, "final"),
        (["train", "--config", t / "missing.yaml"], 2, "error"),
        (
            ["train", "--config", c, "--out", t / "lr", "--set", "train.optimizer.lr=1e6"],
            1,
            "error",
        ),
        (["eval", t / "runs" / "r"], 0, "accuracy"),
        (["eval", t / "nowhere"], 2, "error"),
        (["gradcheck", "--config", c], 0, "arrays"),
        (["gradcheck", "--config", c, "--tol", "0"], 1, "arrays"),  # a FAIL is still a result
        (["runs", t / "runs"], 0, "runs"),
        (["runs", t / "nowhere"], 2, "error"),
        (["datasets"], 0, "datasets"),
        (["datasets", "mnist"], 2, "error"),
        (
            ["sweep", "--config", c, "--grid", t / "grid.yaml", "--out", t / "s", "--jobs", "1"],
            0,
            "points",
        ),
        (
            [
                "sweep",
                "--config",
                c,
                "--grid",
                t / "bad-grid.yaml",
                "--out",
                t / "b",
                "--jobs",
                "1",
            ],
            1,
            "points",
        ),
        (["sweep", "--config", c, "--grid", t / "missing.yaml"], 2, "error"),
    ]


def test_every_json_command_prints_exactly_one_object(mlp_cli, setup):
    for args, code, key in cases(setup):
        result = mlp_cli(*args, "--json")
        assert result.exit_code == code, (args, result.stderr)
        obj = json.loads(result.stdout)  # exactly one JSON document, nothing around it
        assert isinstance(obj, dict) and key in obj, (args, obj)
        if key == "error":
            assert obj["exit_code"] == code
            assert result.stderr.strip() == f"error: {obj['error']}"
