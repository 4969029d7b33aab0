"""The README's promises: its Library use example runs as written, and CI runs its test command."""

import contextlib
import io
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_library_use_example_runs_as_written_and_learns_digits():
    [code] = re.findall(r"## Library use.*?```python\n(.*?)```", README, re.DOTALL)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, "README.md", "exec"), {})
    lines = printed.getvalue().splitlines()
    assert lines[0].startswith("1 ") and len(lines) == 31
    assert float(lines[-1].split()[-1]) >= 0.95


def test_ci_runs_the_readme_test_command():
    [test_command] = re.findall(r"pip install -e '\.\[test\]' && (.+)", README)
    ci = (ROOT / ".ci" / "run").read_text()
    assert test_command.strip() in ci.splitlines()


def significant(text: str) -> str:
    """The text with trailing spaces gone and every number in e-notation cut to two significant
    digits: a README sample is checked to what a reader compares, not to the last bit."""
    lines = "\n".join(line.rstrip() for line in text.strip().splitlines())
    return re.sub(r"-?\d\.\d+e[-+]\d+", lambda m: f"{float(m.group()):.1e}", lines)


def test_the_readmes_gradcheck_sample_is_what_the_command_prints(mlp_cli, monkeypatch):
    command = "$ mlp gradcheck --config configs/digits.yaml\n"
    start = README.index("```\n" + command) + len("```\n" + command)
    sample = README[start : README.index("```", start)]
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("COLUMNS", "80")  # as every README sample
    result = mlp_cli("gradcheck", "--config", "configs/digits.yaml")
    assert result.exit_code == 0, result.stderr
    assert significant(result.stdout) == significant(sample)
