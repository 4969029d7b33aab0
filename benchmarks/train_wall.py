"""Wall time of a whole `mlp train` on digits: a previous commit against this working tree.

    python benchmarks/train_wall.py                  # against c13fd9f, 10 repeats
    python benchmarks/train_wall.py --base HEAD~3 --repeats 20

The base commit is checked out in a temporary git worktree. Each repeat runs, in both trees,
`python -m cli train --config configs/digits.yaml --out TMP --quiet` as a new process with
PYTHONPATH and the working directory at that tree (the script first checks that `cli`, `data`
and `mlp` are imported from it), the order alternating from one repeat to the next so that a
noisy neighbour slows both alike. Two settings are timed:

- warm: each tree has its own cache directory, filled by one untimed run, as on a user's
  second run (the base caches the dataset, the split and the standardiser; this tree only the
  bundled dataset);
- off: MLP_CACHE_DIR=off, so both import scikit-learn (this tree only to load digits).

It prints, per setting and tree, the median wall seconds with the min-max spread and the median
CPU seconds (user + system) of the process, and the ratio of the medians (this tree / base).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHECK_IMPORTS = "import cli, data, mlp; print(cli.__file__, data.__file__, mlp.__file__)"


def environment(tree: Path, cache: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(tree), "MLP_CACHE_DIR": cache}


def check_imports_from(tree: Path) -> None:
    """Fail unless a process started as the timed ones are imports mlp's packages from `tree`."""
    out = subprocess.run(
        [sys.executable, "-c", CHECK_IMPORTS],
        cwd=tree,
        env=environment(tree, "off"),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for path in out:
        if not Path(path).resolve().is_relative_to(tree.resolve()):
            sys.exit(f"error: a process meant to run {tree} imported {path}")


def timed_train(tree: Path, cache: str, out: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one whole `mlp train` on digits run from `tree`."""
    command = [sys.executable, "-m", "cli", "train", "--config", "configs/digits.yaml"]
    command += ["--out", str(out), "--quiet"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, cwd=tree, env=environment(tree, cache), check=True, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def summary(label: str, times: list[tuple[float, float]]) -> str:
    walls = [wall for wall, _ in times]
    cpu = statistics.median(c for _, c in times)
    return (
        f"  {label:<22} wall {statistics.median(walls):.3f} s "
        f"({min(walls):.3f}-{max(walls):.3f}), cpu {cpu:.3f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="c13fd9f", help="the commit to compare against")
    parser.add_argument("--repeats", type=int, default=10, help="timed runs per tree and setting")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="mlp-train-wall-") as tmp:
        tmp_dir = Path(tmp)
        base = tmp_dir / "base"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(base), args.base],
            check=True,
            capture_output=True,
        )
        try:
            trees = {f"base {args.base}": base, "this tree": ROOT}
            for tree in trees.values():
                check_imports_from(tree)
            runs = 0

            def out() -> Path:
                nonlocal runs
                runs += 1
                return tmp_dir / f"run-{runs}"

            print(f"mlp train --config configs/digits.yaml, {args.repeats} repeats, interleaved")
            for setting in ("warm", "off"):
                caches = {label: "off" for label in trees}
                if setting == "warm":
                    caches = {label: str(tmp_dir / f"cache-{i}") for i, label in enumerate(trees)}
                    for label, tree in trees.items():
                        timed_train(tree, caches[label], out())  # fills the cache, untimed
                times: dict[str, list[tuple[float, float]]] = {label: [] for label in trees}
                for repeat in range(args.repeats):
                    order = list(trees) if repeat % 2 == 0 else list(reversed(trees))
                    for label in order:
                        times[label].append(timed_train(trees[label], caches[label], out()))
                print(f"cache {setting}:")
                for label in trees:
                    print(summary(label, times[label]))
                medians = [statistics.median(w for w, _ in times[label]) for label in trees]
                print(f"  this tree / base: {medians[1] / medians[0]:.2f}x wall")
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)],
                check=False,
                capture_output=True,
            )


if __name__ == "__main__":
    main()
