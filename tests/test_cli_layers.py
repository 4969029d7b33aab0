"""Imports inside cli/ point one way, as they do between the packages: no module reaches
back, through a function-level import either, and only the command layer knows Typer or Rich
(`docs/architecture.md` draws the layers)."""

import ast
import re
from pathlib import Path

CLI = Path(__file__).resolve().parents[1] / "cli"
# The command layer: the Typer app, its help and error handling, and the terminal output.
COMMAND_LAYER = {"app", "startup", "helpflags", "errors", "output", "render", "__main__"}


def imports(path: Path) -> tuple[set[str], set[str]]:
    """(the cli modules `path` imports, the top-level packages it imports), at any depth of
    the file: function-level imports count."""
    local, packages = set(), set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "cli":
                local |= {alias.name for alias in node.names}
            elif node.module.startswith("cli."):
                local.add(node.module.split(".")[1])
            packages.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("cli."):
                    local.add(alias.name.split(".")[1])
                packages.add(alias.name.split(".")[0])
    return local - {path.stem}, packages


def graph() -> dict[str, set[str]]:
    return {path.stem: imports(path)[0] for path in sorted(CLI.glob("*.py"))}


def cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph, as the list of its modules, or None."""
    state: dict[str, str] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        path.append(node)
        for target in sorted(edges.get(node, ())):
            if state.get(target) == "open":
                return [*path[path.index(target) :], target]
            if target not in state and (found := visit(target)):
                return found
        state[node] = "done"
        path.pop()
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_imports_inside_cli_form_no_cycle():
    assert cycle(graph()) is None


def test_only_the_command_layer_imports_typer_or_rich():
    found = {
        path.stem for path in CLI.glob("*.py") if imports(path)[1] & {"typer", "rich", "click"}
    }
    assert found <= COMMAND_LAYER, found - COMMAND_LAYER


def test_nothing_below_the_commands_imports_the_command_layer():
    below = {name: targets for name, targets in graph().items() if name not in COMMAND_LAYER}
    reaching = {name: targets & {"app", "startup"} for name, targets in below.items()}
    assert {name: t for name, t in reaching.items() if t} == {}


def test_the_cycle_finder_finds_a_function_level_cycle():
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": set()}) is None


def test_no_function_in_cli_is_over_sixty_lines():
    long = [
        f"{path.name}:{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for path in sorted(CLI.glob("*.py"))
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno - node.lineno + 1 > 60
    ]
    assert long == []


def test_the_architecture_doc_names_every_cli_module():
    doc = (CLI.parent / "docs" / "architecture.md").read_text()
    named = set(re.findall(r"`(\w+)\.py`", doc))
    modules = {path.stem for path in CLI.glob("*.py")} - {"__init__", "__main__"}
    assert modules - named == set(), "modules the doc does not place in a layer"
    assert named & {"app", "rundir", "batch", "session"} == {"app", "rundir", "batch", "session"}
