"""Environment variables are checked where they are used: one line naming the variable, exit
2, nothing created; `mlp --help` never reads them."""

import os
import subprocess
import sys

import pytest

from cli import environment

CONFIG = "data: {dataset: iris}\nmodel: {hidden: [3]}\ntrain: {epochs: 1}\n"


def mlp(*args, env, cwd):
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        env={**os.environ, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "value", "allowed"),
    [
        ("MLP_AUTOSAVE_SECONDS", "soon", "a number >= 0"),
        ("MLP_AUTOSAVE_SECONDS", "-5", "a number >= 0"),
        ("MLP_AUTOSAVE_SECONDS", "nan", "a number >= 0"),
        ("MLP_TEST_KILL_AT_STEP", "3.5", "an integer >= 0"),
    ],
)
def test_a_malformed_variable_is_one_line_and_help_still_works(tmp_path, name, value, allowed):
    (tmp_path / "c.yaml").write_text(CONFIG)
    env = {name: value}
    assert mlp("--help", env=env, cwd=tmp_path).returncode == 0
    assert mlp("train", "--help", env=env, cwd=tmp_path).returncode == 0
    result = mlp("train", "--config", "c.yaml", "--out", "run", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == f"error: environment variable {name}={value!r}: must be {allowed}\n"
    assert not (tmp_path / "run").exists()


def test_unset_or_empty_variables_take_the_default(monkeypatch):
    monkeypatch.delenv("MLP_AUTOSAVE_SECONDS", raising=False)
    assert environment.number("MLP_AUTOSAVE_SECONDS", 60.0) == 60.0
    monkeypatch.setenv("MLP_AUTOSAVE_SECONDS", " ")
    assert environment.number("MLP_AUTOSAVE_SECONDS", 60.0) == 60.0
    monkeypatch.setenv("MLP_AUTOSAVE_SECONDS", "0.5")
    assert environment.number("MLP_AUTOSAVE_SECONDS", 60.0) == 0.5
    monkeypatch.setenv("MLP_TEST_KILL_AT_STEP", "7")
    assert environment.integer("MLP_TEST_KILL_AT_STEP", 0) == 7
