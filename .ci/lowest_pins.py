"""Print `name==version` for every runtime dependency of the installed mlp-trainer, at the
lower bound its metadata (pyproject.toml's `dependencies`) gives.

`.ci/lowest-versions` installs exactly these into a fresh virtualenv, so that every `>=` we
write is a version the code has been run with. A dependency without a single lower bound fails
here: every bound must be stated to be tested.
"""

import re
from importlib.metadata import requires

LOWER = re.compile(r"^([A-Za-z0-9_.\-]+)(\[[^\]]*\])?\s*>=\s*([0-9][0-9A-Za-z.]*)$")


def pins(distribution: str = "mlp-trainer") -> list[str]:
    """'numpy==2.0.0' for 'numpy>=2.0.0', for each runtime (not extra) requirement."""
    found = []
    for spec in requires(distribution) or []:
        if ";" in spec:  # an extra's requirement (`; extra == "onnx"`)
            continue
        match = LOWER.match(spec.replace(" ", ""))
        if match is None:
            raise SystemExit(f"{distribution}: {spec!r} has no single lower bound (name>=version)")
        name, extras, version = match.groups()
        found.append(f"{name}{extras or ''}=={version}")
    return found


if __name__ == "__main__":
    print("\n".join(pins()))
