"""YAML that would take the server down is refused before it is loaded.

Two shapes of hostile YAML get past a safe loader:

- deep nesting (`[[[[...` or `- - - - ...`, a few hundred KB): libyaml composes
  recursively in C, so the process dies of a stack overflow (a segfault, not an
  exception), and parsing is quadratic in the depth long before that;
- anchors and aliases that expand exponentially ("billion laughs"): loading is
  cheap (an alias is a reference), but reading the data (a label turned into text,
  a merge key `<<: [*a, *a, ...]` flattened) is not.

Depth is bounded from the text alone, so that libyaml never sees a deep document;
expansion is measured from libyaml's event stream (no recursion there), and only for
a text that has anchors at all. Real Drupal config nests about 16 levels deep and
expands to less than its own size.
"""

from __future__ import annotations

import re
from itertools import accumulate
from typing import Any

import yaml

# The bound below is about 4x a real file's depth (NestWatch: depth 16, bound 63).
MAX_NESTING_BOUND = 200
# Expanded size (nodes plus scalar characters) allowed per character of the file.
MAX_EXPANSION = 2
EXPANSION_SLACK = 10_000

_BLOCK_PREFIX = re.compile(r"^[ \t]*(?:[-?:][ \t]+)*", re.MULTILINE)
_NOT_A_BRACKET = re.compile(r"[^\[\]{}]")


def nesting_bound(text: str) -> int:
    """An upper bound of the document's nesting depth, read from the text alone.

    A block collection nested in another starts at least one column further right
    every two levels (a sequence may share its parent key's column), so block depth
    is at most twice the widest line prefix of indentation and `- `/`? `/`: `
    indicators, plus two. Flow depth is at most the running depth of the brackets
    (brackets inside quoted strings only make the bound larger).
    """
    block = max(map(len, _BLOCK_PREFIX.findall(text)), default=0)
    brackets = _NOT_A_BRACKET.sub("", text)
    flow = max(accumulate(1 if c in "[{" else -1 for c in brackets), default=0)
    return 2 * block + 2 + flow


def expanded_size(text: str, loader: Any, limit: int) -> int:
    """Nodes plus scalar characters of the document with every alias expanded.

    Stops counting once over `limit` (a billion laughs expands to ~10^9). A text that
    does not parse counts as 0: the loader reports it, with its line.
    """
    sizes: dict[str, int] = {}
    open_nodes: list[tuple[str | None, int]] = []
    expanded = 0
    try:
        for event in yaml.parse(text, Loader=loader):
            if isinstance(event, yaml.AliasEvent):
                expanded += sizes.get(str(event.anchor), 1)
            elif isinstance(event, yaml.ScalarEvent):
                expanded += 1 + len(event.value)
                if event.anchor is not None:
                    sizes[event.anchor] = 1 + len(event.value)
            elif isinstance(event, yaml.CollectionStartEvent):
                open_nodes.append((event.anchor, expanded))
                expanded += 1
            elif isinstance(event, yaml.CollectionEndEvent):
                anchor, start = open_nodes.pop()
                if anchor is not None:
                    sizes[anchor] = expanded - start
            if expanded > limit:
                break
    except yaml.YAMLError:
        return 0
    return expanded


def yaml_hazard(text: str, loader: Any) -> str | None:
    """Why the text must not be loaded, or None."""
    bound = nesting_bound(text)
    if bound > MAX_NESTING_BOUND:
        return (
            f"The YAML nests too deeply (up to {bound} levels; a config object nests "
            f"far less than {MAX_NESTING_BOUND}), so it is not read"
        )
    if "&" in text and "*" in text:
        limit = MAX_EXPANSION * len(text) + EXPANSION_SLACK
        size = expanded_size(text, loader, limit)
        if size > limit:
            return (
                f"The YAML's anchors and aliases (&name / *name) expand it to more than "
                f"{limit:,} nodes and characters from {len(text):,}: this looks like "
                "an alias bomb ('billion laughs'), so it is not read"
            )
    return None
