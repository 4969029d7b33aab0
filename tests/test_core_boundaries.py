"""The core's promises about what it depends on."""

import subprocess
import sys

import pytest


@pytest.mark.slow
def test_the_core_imports_numpy_only():
    code = (
        "import sys, mlp, mlp.checkpoint, mlp.gradcheck, mlp.training\n"
        "bad = sorted(m for m in ('typer', 'rich', 'yaml', 'sklearn', 'scipy', 'cli', 'data')"
        " if m in sys.modules)\n"
        "print(','.join(bad))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


def test_every_package_is_listed_for_installation():
    # `pip install .` (not editable) installs only the packages pyproject.toml lists; a new
    # subpackage left out of the list works in a clone and breaks every real install.
    import ast
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    text = (root / "pyproject.toml").read_text()
    listed = set(ast.literal_eval(re.search(r"^packages = (\[.*\])$", text, re.M).group(1)))
    found = {
        ".".join(init.parent.relative_to(root).parts)
        for top in ("mlp", "cli", "data")
        for init in (root / top).rglob("__init__.py")
    }
    assert found == listed
