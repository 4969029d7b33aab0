"""Shared fixtures: a pinned terminal width, and a CliRunner that invokes the `mlp` app."""

import pytest
from typer.testing import CliRunner


def one_thread(args):
    """`mlp train` args with `--threads 1` added unless they choose: `auto` would time each
    run's batches at every count, which only slows tests that time nothing."""
    args = [str(a) for a in args]
    if args[:1] == ["train"] and "--threads" not in args and "--help" not in args:
        args += ["--threads", "1"]
    return args


@pytest.fixture
def mlp_cli(monkeypatch):
    """Run `mlp ARGS...` in-process; returns the click Result (exit_code, stdout, stderr)."""
    monkeypatch.setenv("COLUMNS", "120")  # Rich reads the width from here when not a terminal
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    from cli.app import app  # imported here so the core's tests run without the CLI

    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(app, one_thread(args), catch_exceptions=False)

    return invoke


@pytest.fixture
def iris_config(tmp_path):
    """A small iris config (8 epochs) in a temporary directory."""
    path = tmp_path / "iris-small.yaml"
    path.write_text(
        "seed: 3\n"
        "data: {dataset: iris, test_size: 0.2, val_size: 0.1}\n"
        "model: {hidden: [8]}\n"
        "train: {epochs: 8, batch_size: 16, optimizer: {name: sgd, lr: 0.1, momentum: 0.9}}\n"
    )
    return path


@pytest.fixture(autouse=True, scope="session")
def private_cache(tmp_path_factory):
    """Keep the tests' cached datasets out of the user's ~/.cache."""
    import os

    os.environ["MLP_CACHE_DIR"] = str(tmp_path_factory.mktemp("mlp-cache"))
