"""The documentation is accurate to the code: its commands run, its names exist."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
MATH = (ROOT / "docs" / "math.md").read_text()
README = (ROOT / "README.md").read_text()


def all_test_names():
    names = set()
    for path in (ROOT / "tests").glob("test_*.py"):
        names |= set(re.findall(r"^def (test_\w+)", path.read_text(), re.MULTILINE))
    return names


def test_every_test_the_maths_guide_names_exists():
    named = set(re.findall(r"`(test_\w+)`", MATH))
    assert len(named) >= 15
    assert named <= all_test_names(), named - all_test_names()


def code_names(text: str) -> set[str]:
    """Every name of code a document quotes: `snake_case` identifiers (not a maths symbol with
    a one-letter subscript such as `z_i`), `MLP.method`, and a module's functions it names."""
    quoted = set(re.findall(r"`([A-Za-z_][\w.]*)`", text))
    return {
        name
        for name in quoted
        if not name.startswith("test_")
        and not re.fullmatch(r"[A-Za-z]+_\w", name)  # z_i, H_k: symbols, not code
        and (
            ("_" in name and "." not in name)  # not a dotted config key (train.class_weight)
            or name.startswith("MLP.")
            or name in dir(__import__("mlp.functions").functions)
        )
    }


def test_every_function_the_maths_guide_names_exists():
    import mlp.diagnostics
    import mlp.explain
    import mlp.functions
    import mlp.gradcheck
    import mlp.network
    from mlp.heads import HEADS
    from mlp.optimizers import OPTIMIZERS

    namespaces = [mlp.functions, mlp.network, mlp.gradcheck, mlp.explain, mlp.diagnostics]
    params = {p.name for cls in OPTIMIZERS.values() for p in cls.PARAMS}
    # the diagnostics' figures and the heads' output symbols, as they are declared
    params |= set(mlp.diagnostics.FIGURES) | {head.symbol for head in HEADS.values()}
    named = code_names(MATH)
    assert {"softmax_cross_entropy", "MLP.backward", "gradient_check", "sigmoid"} <= named
    missing = []
    for name in sorted(named):
        head, _, attribute = name.partition(".")
        if head == "MLP":  # an instance: some attributes (the gradient) are set per network
            found = hasattr(mlp.network.MLP([2, 3, 2], np.random.default_rng(0)), attribute)
        else:
            found = name in params or any(callable(getattr(m, name, None)) for m in namespaces)
        if not found:
            missing.append(name)
    assert missing == []


def test_the_name_check_catches_a_renamed_function():
    text = "the fused `softmax_xent` of `MLP.backwards`, with `z_i` and `train.epochs`"
    assert code_names(text) == {
        "softmax_xent",
        "MLP.backwards",
    }


@pytest.mark.slow
def test_the_worked_example_command_prints_1_6094():
    [command] = re.findall(r'```bash\n(python -c ".*?")\n```', MATH)
    result = subprocess.run(command, shell=True, capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    printed = result.stdout.strip()
    assert f"prints `{printed}`" in MATH
    assert float(printed) == pytest.approx(1.6094379124341003, rel=1e-15)  # -ln 0.2


def readme_invocations():
    """(command, [options]) for every `mlp COMMAND ...` the README shows."""
    found = []
    for line in re.findall(r"`(mlp [^`]+)`", README) + re.findall(r"^\$ (mlp .+)$", README, re.M):
        words = line.split()
        if len(words) > 1 and not words[1].startswith("-") and not words[1].isupper():
            found.append((words[1], [w.split("=")[0] for w in words if w.startswith("--")]))
    return found


@pytest.mark.parametrize(("command", "options"), readme_invocations())
def test_every_command_and_option_in_the_readme_exists(mlp_cli, command, options):
    result = mlp_cli(command, "--help")
    assert result.exit_code == 0, f"mlp {command}"
    for option in options:
        assert option in result.stdout, f"mlp {command} {option}"


def test_the_readme_config_reference_lists_every_key():
    from cli.config import config_to_dict, parse_config
    from cli.session import flat_keys

    config = parse_config({"data": {"dataset": "iris"}, "train": {"early_stopping": {}}})
    documented = set(re.findall(r"^\| `([\w.]+)` \|", README, re.MULTILINE))
    for key in flat_keys(config_to_dict(config)):
        section = ".".join(key.split(".")[:2])
        assert key in documented or section in documented, key


def test_the_readme_config_reference_quotes_every_declaration():
    # Each optimizer's, schedule's and early stopping's keys, defaults and ranges come from the
    # declarations in mlp/; the README must say exactly what they say.
    from cli.config import OPTIMIZERS, SCHEDULES, EarlyStoppingConfig, describe
    from data import DATASETS
    from mlp.functions import ACTIVATIONS

    for name, cls in {**OPTIMIZERS, **SCHEDULES}.items():
        assert f"- `{name}`: {describe(cls) or 'no keys'};" in README, name
    assert f"Early stopping (`mlp/early_stopping.py`): {describe(EarlyStoppingConfig)}." in README
    rows = dict(re.findall(r"^\| `([\w.]+)` \| [^|]+ \| ([^|]+) \|$", README, re.MULTILINE))
    assert re.findall(r"`(\w+)`", rows["model.activation"]) == list(ACTIVATIONS)
    assert re.findall(r"`(\w+)`", rows["data.dataset"]) == list(DATASETS)


def test_the_recipe_for_a_fourth_optimizer_runs_and_resumes_exactly():
    import numpy as np

    recipe = (ROOT / "docs" / "adding-an-optimizer.md").read_text()
    [code] = re.findall(r"```python\n(.*?)```", recipe, re.DOTALL)
    namespace: dict = {}
    exec(code, namespace)
    adagrad = namespace["Adagrad"]
    params, optimizer = np.array([1.0]), adagrad(lr=0.01, eps=1e-300)
    optimizer.step(params, np.array([2.0]))  # G = 4: the step is 0.01 * 2 / 2
    assert params[0] == pytest.approx(0.99, rel=1e-15)
    again = adagrad()
    again.load_state_dict(optimizer.state_dict())
    optimizer.step(params, np.array([1.0]))
    copy = np.array([0.99])
    again.step(copy, np.array([1.0]))
    assert copy[0] == params[0] and again.lr == 0.01


@pytest.mark.slow
def test_python_dash_m_cli_help_runs():
    result = subprocess.run([sys.executable, "-m", "cli", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "predict" in result.stdout and "curves" in result.stdout


def test_the_example_config_shows_the_real_defaults():
    import yaml

    from cli.config import config_to_dict, parse_config

    example = yaml.safe_load((ROOT / "configs" / "example.yaml").read_text())
    assert example == config_to_dict(parse_config({"data": {"dataset": "wine"}}))


def test_help_shows_flags_as_flags_and_arguments_by_name(mlp_cli):
    commands = ("train", "eval", "gradcheck", "runs", "curves", "predict", "sweep", "datasets")
    for command in (*commands, "export", "cv"):
        text = mlp_cli(command, "--help").stdout
        assert "<bool>" not in text, command
        assert "--set" not in text or "--set KEY=VALUE" in " ".join(text.split()), command
        assert "{" not in text.split("Usage:")[1].splitlines()[0], command
    assert "eval [OPTIONS] RUN " in mlp_cli("eval", "--help").stdout
    assert "predict [OPTIONS] RUN INPUT " in mlp_cli("predict", "--help").stdout
    assert "runs [OPTIONS] [FOLDER] " in mlp_cli("runs", "--help").stdout
    assert "mlp-trainer" not in mlp_cli("curves", "--help").stdout
    assert "<bool>" not in mlp_cli("--help").stdout


def test_the_readme_output_is_as_printed_at_80_columns():
    # Tables and charts fit 80 columns; only plain lines (a path in them) may run longer.
    drawn, fence = [], None
    for line in README.splitlines():
        if line.startswith("```"):
            fence = line if fence is None else None
        elif fence == "```" and set(line) & set("│┃─━"):
            drawn.append(line)
    assert len(drawn) > 20
    assert [line for line in drawn if len(line) > 80] == []
