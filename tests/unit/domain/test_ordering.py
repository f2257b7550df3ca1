"""Export order and cycle detection (the seeds' `_order_tickets_for_export` cases and more)."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest

from domain.errors import DependencyCycleError
from domain.ordering import check_no_cycle, export_order


def order(nodes: list[tuple[UUID, int]], edges: dict[UUID, list[UUID]]) -> list[UUID]:
    return export_order(nodes, edges)


def test_independent_tickets_follow_user_order() -> None:
    a, b, c = uuid4(), uuid4(), uuid4()
    result = order([(a, 3), (b, 1), (c, 2)], {})
    assert result == [b, c, a]


def test_dependency_comes_before_dependent() -> None:
    a, b = uuid4(), uuid4()
    result = order([(a, 1), (b, 2)], {a: [b]})
    assert result.index(b) < result.index(a)


def test_chain_exports_in_reverse() -> None:
    a, b, c = uuid4(), uuid4(), uuid4()
    assert order([(a, 1), (b, 2), (c, 3)], {a: [b], b: [c]}) == [c, b, a]


def test_ticket_with_several_dependencies_waits_for_all() -> None:
    a, b, c = uuid4(), uuid4(), uuid4()
    assert order([(a, 1), (b, 2), (c, 3)], {a: [b, c]})[-1] == a


def test_user_order_kept_within_a_level() -> None:
    parent, child1, child2 = uuid4(), uuid4(), uuid4()
    result = order([(child2, 2), (child1, 1), (parent, 3)], {child1: [parent], child2: [parent]})
    assert result == [parent, child1, child2]


def test_free_ticket_with_lower_user_order_goes_before_a_released_one() -> None:
    # Only free tickets compete: f (2) before e (5); e's export then frees d.
    d, e, f = uuid4(), uuid4(), uuid4()
    assert order([(d, 1), (e, 5), (f, 2)], {d: [e]}) == [f, e, d]


def test_unknown_dependencies_are_ignored() -> None:
    a = uuid4()
    assert order([(a, 1)], {a: [uuid4()]}) == [a]


def test_cycle_in_export_order_is_named() -> None:
    a, b, c = "a", "b", "c"
    with pytest.raises(DependencyCycleError) as info:
        export_order([(a, 1), (b, 2), (c, 3)], {a: [b], b: [c], c: [a]})
    cycle = info.value.cycle
    assert cycle[0] == cycle[-1]
    assert set(cycle) == {"a", "b", "c"}


def test_adding_an_edge_that_closes_a_cycle_names_the_cycle() -> None:
    edges = {"a": {"b"}, "b": {"c"}}
    with pytest.raises(DependencyCycleError) as info:
        check_no_cycle(edges, "c", "a", {"a": "A", "b": "B", "c": "C"})
    assert info.value.cycle == ["C", "A", "B", "C"]
    assert "C -> A -> B -> C" in info.value.detail


def test_self_dependency_is_a_cycle() -> None:
    with pytest.raises(DependencyCycleError):
        check_no_cycle({}, "a", "a", {})


def test_edge_without_cycle_is_accepted() -> None:
    check_no_cycle({"a": {"b"}}, "c", "a", {})


def test_large_graph_orders_quickly_and_correctly() -> None:
    nodes = [(str(i), i) for i in range(5000)]
    edges = {str(i): [str(i - 1), str(i // 2)] for i in range(1, 5000)}
    result = export_order(nodes, edges)
    position = {n: i for i, n in enumerate(result)}
    assert all(position[d] < position[n] for n, deps in edges.items() for d in deps)
