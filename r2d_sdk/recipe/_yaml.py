"""The recipe's YAML loader: PyYAML's safe loader with limits, so a hostile file fails fast.

PyYAML shares the object behind an alias, so `yaml.safe_load` itself stays small; what blows
up is every later walk over the tree (`${VAR}` expansion, pydantic), which sees each alias as
a full copy. A "billion laughs" file of 80 aliases is a billion nodes to them. So the loader
counts the nodes of the tree *as expanded* while it composes it, and refuses past a budget no
real recipe comes near; it also bounds nesting depth (the composer recurses, and so would
everything after it) and refuses duplicate keys, which YAML resolves silently (the last wins).
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

# The largest shipped recipe is ~200 nodes; the budgets leave room for generated recipes.
MAX_NODES = 50_000
MAX_DEPTH = 64
MERGE_TAG = "tag:yaml.org,2002:merge"


class RecipeYAMLError(yaml.YAMLError):
    """A YAML document the loader refuses, with the line it is about and the fix."""

    def __init__(self, problem: str, mark: yaml.Mark | None, fix: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.problem_mark = mark
        self.fix = fix


class RecipeLoader(yaml.SafeLoader):
    """`yaml.SafeLoader` with a node budget (aliases counted as copies), a depth limit and
    duplicate keys refused."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._expanded: dict[int, int] = {}  # id(node) -> its size with aliases expanded

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            target = self.anchors.get(event.anchor)  # type: ignore[attr-defined]
            if target is not None and id(target) not in self._expanded:  # still being composed
                raise RecipeYAMLError(f"alias *{event.anchor} refers to the collection that contains it",
                                      event.start_mark, "a recipe cannot contain itself: copy the values instead")
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise RecipeYAMLError(f"nesting is deeper than {MAX_DEPTH} levels", self.peek_event().start_mark,
                                  "a recipe is a few levels deep: flatten the structure")
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if node is not None:
            self._count(node)
        return node

    def _count(self, node: Node) -> None:
        if id(node) in self._expanded:  # an alias: its node was counted when it was composed
            return
        # Children are composed (and counted) first; an alias child counts its whole size again,
        # since each use is a full copy to whoever walks the tree. The root's size is the document's.
        if isinstance(node, SequenceNode):
            size = 1 + sum(self._expanded[id(child)] for child in node.value)
        elif isinstance(node, MappingNode):
            size = 1 + sum(self._expanded[id(k)] + self._expanded[id(v)] for k, v in node.value)
        else:
            size = 1
        self._expanded[id(node)] = size
        if size > MAX_NODES:
            raise RecipeYAMLError(f"the document expands to more than {MAX_NODES} values (aliases count as copies)",
                                  node.start_mark, "use fewer aliases (`*name`); a recipe needs only a few")

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == MERGE_TAG or not isinstance(key_node, ScalarNode):
                continue  # `<<: *base` may be overridden by the mapping's own keys, as YAML says
            key = self.construct_object(key_node)
            if key in seen:
                raise RecipeYAMLError(
                    f"key '{key}' appears twice in one mapping (first at line {seen[key].start_mark.line + 1})",
                    key_node.start_mark, f"keep one `{key}:` (YAML would silently use the last)")
            seen[key] = key_node
        return super().construct_mapping(node, deep)


def load_yaml(text: str) -> Any:
    """Parse one YAML document under the recipe loader's limits.

    Raises:
        yaml.YAMLError: invalid YAML, or a `RecipeYAMLError` for a document over the limits.
    """
    loader = RecipeLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


__all__ = ["MAX_DEPTH", "MAX_NODES", "RecipeLoader", "RecipeYAMLError", "load_yaml"]
