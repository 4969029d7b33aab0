"""The one YAML loader of the CLI: PyYAML's safe loader, made strict and cheap to feed hostile text.

Three changes to `yaml.SafeLoader`, each for a file a person wrote by hand or someone handed us:

- `1e-3` is a float (YAML 1.2), not the string '1e-3' of YAML 1.1;
- a key written twice in one mapping is an error naming both lines, where PyYAML lets the
  last one win silently (`lr` set on line 5 and again on line 9 is a mistake, not a choice);
- aliases may not expand a document past `MAX_NODES` nodes. Nodes are counted as if every
  alias were written out in full, over the composed graph (each shared node counted once per
  use, remembered, so counting itself is linear), and counting stops at the limit: a
  billion-laughs file is refused after at most `MAX_NODES` steps instead of being expanded
  later by whatever walks the data. A hand-written config is tens of nodes, a sweep grid a
  few hundred. An alias that contains itself is refused too.

And two bounds on the text itself, so that a huge file costs a fraction of a second: a document
of more than `MAX_BYTES` is refused before parsing (`read_text` reads no further than that),
and nodes are counted as they are composed, so a file of a million keys is refused at the
`MAX_NODES`-th instead of after all of them are built.

Errors are `yaml.MarkedYAMLError`s with the line and column of the culprit, so every caller
that already reports YAML errors in one line reports these too.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import yaml

MAX_NODES = 10_000  # nodes a document may hold once its aliases are expanded
MAX_BYTES = 1 << 20  # 1 MiB: a config is a few hundred bytes, a large grid a few kilobytes


class DuplicateKeyError(yaml.MarkedYAMLError):
    """A key that appears twice in one mapping."""


class ExpansionError(yaml.MarkedYAMLError):
    """A document whose aliases expand past MAX_NODES nodes, or into themselves."""


class TooLargeError(ExpansionError):
    """A document of more than MAX_BYTES."""


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2 floats, no duplicate keys and bounded aliases."""

    composed = 0  # nodes composed so far (aliases counted once): refused past MAX_NODES

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node:
        """As the safe loader's, but the MAX_NODES-th node ends the parse at once."""
        self.composed += 1
        if self.composed > MAX_NODES:
            raise ExpansionError(
                problem=f"more than {MAX_NODES} YAML nodes",
                problem_mark=self.peek_event().start_mark,
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict:
        """As the safe loader's, but a key written twice in `node` is a DuplicateKeyError."""
        if isinstance(node, yaml.MappingNode):
            first_seen: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *base` may be overridden
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = first_seen.setdefault(key, key_node)
                except TypeError:  # an unhashable key: the safe loader's own error says so
                    continue
                if first is not key_node:
                    line = first.start_mark.line + 1
                    raise DuplicateKeyError(
                        problem=f"duplicate key {key!r} (first at line {line})",
                        problem_mark=key_node.start_mark,
                    )
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        """As the safe loader's, but an integer too long for Python to convert (more than
        4300 digits) is a ConstructorError at its place, not a ValueError."""
        try:
            return super().construct_yaml_int(node)
        except ValueError:
            raise yaml.constructor.ConstructorError(
                problem=f"an integer of {len(node.value):,} digits is too long",
                problem_mark=node.start_mark,
            ) from None

    def get_single_node(self) -> yaml.Node | None:
        """The document's node graph, refused if its aliases expand past MAX_NODES nodes."""
        node = super().get_single_node()
        if node is not None:
            expanded_size(node)
        return node


_Loader.add_constructor("tag:yaml.org,2002:int", _Loader.construct_yaml_int)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [child for pair in node.value for child in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def expanded_size(root: yaml.Node, limit: int = MAX_NODES) -> int:
    """How many nodes `root` holds with every alias written out; ExpansionError past `limit`.

    A depth-first walk over the composed graph (iterative: nesting depth costs no stack), where
    a node reached again through an alias adds its remembered size instead of being walked again.
    """
    sizes: dict[int, int] = {}  # id(node) -> expanded size, once its children are done
    open_nodes: set[int] = set()  # nodes whose subtree is being walked: reaching one is a cycle
    shared = False
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if children_done:
            size = 1 + sum(sizes[id(child)] for child in _children(node))
            if size > limit:
                problem = (
                    f"YAML aliases expand past {limit} nodes"
                    if shared
                    else f"more than {limit} YAML nodes"
                )
                raise ExpansionError(problem=problem, problem_mark=node.start_mark)
            sizes[id(node)] = size
            open_nodes.discard(id(node))
            continue
        if id(node) in sizes:
            shared = True
            continue
        if id(node) in open_nodes:
            raise ExpansionError(problem="YAML alias contains itself", problem_mark=node.start_mark)
        open_nodes.add(id(node))
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node))
    return sizes[id(root)]


# The safe loader's float pattern is YAML 1.1's, which demands a dot in the mantissa; learning
# rates are written 1e-3 far too often to let that become a type error. Reset the resolvers
# for the first characters a float can start with and register the YAML 1.2 pattern.
_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:float"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+][0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.VERBOSE,
    ),
    list("-+0123456789."),
)


def safe_load(text: str) -> object:
    """YAML text to plain Python data; never constructs other objects."""
    if len(text) > MAX_BYTES:  # characters: at least as many bytes
        raise TooLargeError(problem=f"the YAML text is larger than {MAX_BYTES:,} bytes")
    return yaml.load(text, Loader=_Loader)  # _Loader is a SafeLoader subclass


def read_text(path: str | os.PathLike) -> str:
    """A YAML file's text (UTF-8), refused with TooLargeError past MAX_BYTES before more is
    read. OSError and UnicodeDecodeError as from Path.read_text."""
    with Path(path).open("rb") as file:
        data = file.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise TooLargeError(problem=f"larger than {MAX_BYTES:,} bytes (a config or grid file)")
    return data.decode("utf-8")
