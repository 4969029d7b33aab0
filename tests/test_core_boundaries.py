"""The core's promises about what it depends on."""

import subprocess
import sys


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
