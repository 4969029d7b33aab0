"""Every runtime dependency states a lower bound, and CI installs exactly those versions."""

import re
import runpy
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def declared_dependencies() -> list[str]:
    """pyproject.toml's [project] dependencies, read as text (tomllib is Python 3.11's)."""
    text = (ROOT / "pyproject.toml").read_text()
    block = re.search(r"^dependencies = \[(.*?)^\]", text, re.S | re.M).group(1)
    return re.findall(r'^\s*"([^"]+)"', block, re.M)


def test_every_runtime_dependency_is_pinned_at_its_lower_bound_for_ci():
    pins = runpy.run_path(str(ROOT / ".ci" / "lowest_pins.py"))["pins"]()
    declared = declared_dependencies()
    assert len(declared) >= 8 and len(pins) == len(declared)
    for spec in declared:
        name, bound = spec.split(">=")
        assert f"{name}=={bound}" in pins


def test_ci_runs_the_lowest_versions_step_after_the_tests():
    lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert lines.index("bash .ci/lowest-versions") > lines.index("python -m pytest")
