"""The ticket dependency graph: cycle detection and export order."""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from typing import TypeVar
from uuid import UUID

from domain.errors import DependencyCycleError

NodeId = TypeVar("NodeId", UUID, str)


def find_path(
    edges: Mapping[NodeId, Iterable[NodeId]], start: NodeId, goal: NodeId
) -> list[NodeId] | None:
    """A path start -> ... -> goal following `edges` (node -> what it depends on), if any."""
    parents: dict[NodeId, NodeId | None] = {start: None}
    stack = [start]
    while stack:
        node = stack.pop()
        if node == goal:
            path = [node]
            while (parent := parents[path[-1]]) is not None:
                path.append(parent)
            return list(reversed(path))
        for nxt in edges.get(node, ()):
            if nxt not in parents:
                parents[nxt] = node
                stack.append(nxt)
    return None


def check_no_cycle(
    edges: Mapping[NodeId, Iterable[NodeId]],
    ticket: NodeId,
    depends_on: NodeId,
    label: Mapping[NodeId, str],
) -> None:
    """Refuse `ticket` -> `depends_on` when `depends_on` already (transitively) needs `ticket`."""
    if ticket == depends_on:
        name = label.get(ticket, str(ticket))
        raise DependencyCycleError([name, name])
    path = find_path(edges, depends_on, ticket)
    if path is not None:
        names = [label.get(ticket, str(ticket))] + [label.get(n, str(n)) for n in path]
        raise DependencyCycleError(names)


def export_order(
    nodes: Sequence[tuple[NodeId, int]], edges: Mapping[NodeId, Iterable[NodeId]]
) -> list[NodeId]:
    """Dependencies first; among tickets that are free to go, the lowest `user_order` first.

    `nodes` are (id, user_order); `edges` map a ticket to the tickets it depends on.
    Edges to unknown tickets are ignored. Raises DependencyCycleError on a cycle.
    """
    order_of = dict(nodes)
    waiting_on: dict[NodeId, int] = {node: 0 for node in order_of}
    dependents: dict[NodeId, list[NodeId]] = {node: [] for node in order_of}
    for node in order_of:
        for dep in set(edges.get(node, ())):
            if dep in order_of and dep != node:
                waiting_on[node] += 1
                dependents[dep].append(node)
    ready = [(order_of[n], str(n), n) for n, count in waiting_on.items() if count == 0]
    heapq.heapify(ready)
    result: list[NodeId] = []
    while ready:
        _, _, node = heapq.heappop(ready)
        result.append(node)
        for dependent in dependents[node]:
            waiting_on[dependent] -= 1
            if waiting_on[dependent] == 0:
                heapq.heappush(ready, (order_of[dependent], str(dependent), dependent))
    if len(result) != len(order_of):
        remaining = {n for n, count in waiting_on.items() if count > 0}
        raise DependencyCycleError([str(n) for n in _cycle_among(edges, remaining)])
    return result


def _cycle_among(edges: Mapping[NodeId, Iterable[NodeId]], remaining: set[NodeId]) -> list[NodeId]:
    """Every ticket left after a topological sort waits on another left one: walk until a repeat."""
    walk: list[NodeId] = []
    node: NodeId = min(remaining, key=str)
    while node not in walk:
        walk.append(node)
        node = min((d for d in edges.get(node, ()) if d in remaining), key=str)
    cycle = walk[walk.index(node) :]
    cycle.append(node)
    return cycle
