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
