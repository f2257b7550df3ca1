"""Review over the API: ticket list and order, edits with optimistic concurrency,
dependencies, reordering and readiness."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from tests.e2e.conftest import Api, assert_error

Reviewed = tuple[str, list[Any]]


def url(session_id: str, rest: str = "") -> str:
    return f"/api/sessions/{session_id}{rest}"


def assert_dependencies_first(tickets: list[dict[str, Any]]) -> None:
    seen: set[str] = set()
    for ticket in tickets:
        missing = set(ticket["depends_on"]) - seen
        assert not missing, f"{ticket['config_name']} comes before its dependencies {missing}"
        seen.add(ticket["id"])


# --- the list --------------------------------------------------------------------


def test_tickets_come_in_export_order_by_default(api: Api, reviewed: Reviewed) -> None:
    session_id, tickets = reviewed
    response = api.get(url(session_id, "/tickets"))

    assert response.status_code == 200, response.text
    assert response.headers["X-Read-Model-Lag"] == "0"
    body = response.json()
    assert body["order"] == "export"
    assert body["total"] == len(body["tickets"]) == 49
    assert len({t["id"] for t in tickets}) == 49
    assert sum(len(t["depends_on"]) for t in tickets) > 0, "the sample has dependencies"
    assert_dependencies_first(body["tickets"])
    for ticket in body["tickets"]:
        assert ticket["session_id"] == session_id
        assert ticket["version"] == 1
        assert ticket["labels"] == ["drupal", "ticketforge"]
        assert ticket["validation"]["state"] == "missing"
        for field in ("title", "user_story", "analysis", "verification"):
            assert ticket[field].strip()
        assert len(ticket["title"]) <= 255


def test_user_order_lists_tickets_by_user_order(api: Api, reviewed: Reviewed) -> None:
    session_id, _ = reviewed

    by_user = api.tickets(session_id, order="user")

    orders = [t["user_order"] for t in by_user]
    assert orders == sorted(orders)
    assert sorted(orders) == list(range(1, 50))


def test_an_unknown_order_is_422(api: Api, reviewed: Reviewed) -> None:
    session_id, _ = reviewed

    assert_error(api.get(url(session_id, "/tickets?order=random")), 422, "order")


def test_one_ticket_has_an_etag_with_its_version(api: Api, reviewed: Reviewed) -> None:
    session_id, tickets = reviewed
    ticket = tickets[3]

    response = api.get(url(session_id, f"/tickets/{ticket['id']}"))

    assert response.status_code == 200, response.text
    assert response.headers["ETag"] == '"1"'
    assert response.json() == ticket


def test_an_unknown_ticket_is_404(api: Api, reviewed: Reviewed) -> None:
    session_id, _ = reviewed
    unknown = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"

    assert_error(api.get(url(session_id, f"/tickets/{unknown}")), 404, unknown)
    response = api.patch(url(session_id, f"/tickets/{unknown}"), json={"title": "x", "version": 1})
    assert_error(response, 404, unknown)


def test_a_ticket_of_another_session_is_404(api: Api, reviewed: Reviewed) -> None:
    _, tickets = reviewed
    other = api.create_session(name="Other")["id"]

    assert_error(api.get(url(other, f"/tickets/{tickets[0]['id']}")), 404)


# --- edits -------------------------------------------------------------------------


def test_patch_with_the_current_version_applies_the_edit(api: Api, reviewed: Reviewed) -> None:
    session_id, tickets = reviewed
    ticket = tickets[0]
    changes = {
        "title": "Build the article content type, reviewed",
        "analysis": "## New analysis\n\n- one\n- two",
        "assignee": "dev@example.com",
        "sprint": "Sprint 3",
        "priority": "High",
        "labels": ["drupal", "reviewed"],
    }

    response = api.patch(
        url(session_id, f"/tickets/{ticket['id']}"), json=changes, headers={"If-Match": '"1"'}
    )

    assert response.status_code == 200, response.text
    assert response.headers["ETag"] == '"2"'
    assert int(response.headers["X-Event-Position"]) == api.container.app.head_position()
    body = response.json()
    assert body["version"] == 2
    assert body["updated_by"] == "alice"
    for key, value in changes.items():
        assert body[key] == value
    assert body["user_story"] == ticket["user_story"]
    assert api.get(url(session_id, f"/tickets/{ticket['id']}")).json() == body


def test_patch_accepts_a_weak_etag_and_the_version_in_the_body(
    api: Api, reviewed: Reviewed
) -> None:
    session_id, tickets = reviewed
    path = url(session_id, f"/tickets/{tickets[0]['id']}")

    weak = api.patch(path, json={"sprint": "S1"}, headers={"If-Match": 'W/"1"'})
    in_body = api.patch(path, json={"sprint": "S2", "version": 2})

    assert weak.status_code == 200, weak.text
    assert in_body.status_code == 200, in_body.text
    assert in_body.json()["version"] == 3
    assert in_body.json()["sprint"] == "S2"


def test_a_stale_patch_is_409_and_changes_nothing(api: Api, reviewed: Reviewed) -> None:
    session_id, tickets = reviewed
    path = url(session_id, f"/tickets/{tickets[0]['id']}")
    first = api.patch(path, json={"title": "Edited by Alice"}, headers={"If-Match": '"1"'})
    assert first.status_code == 200, first.text
    current = first.json()
    head = api.container.app.head_position()

    stale = api.patch(
        path,
        json={"title": "Edited by Bob on the old version", "analysis": "Bob's analysis"},
        headers={"If-Match": '"1"'},
    )

    body = assert_error(stale, 409, "version 2", "version 1")
    assert body["current_version"] == 2
    assert body["error_category"] == "user_fixable"
    assert body["recovery_actions"]
    assert api.container.app.head_position() == head
    now = api.get(path)
    assert now.json() == current
    assert now.headers["ETag"] == '"2"'


def test_concurrent_patches_on_one_version_let_exactly_one_win(
    api: Api, reviewed: Reviewed
) -> None:
    session_id, tickets = reviewed
    path = url(session_id, f"/tickets/{tickets[0]['id']}")
    barrier = threading.Barrier(4)
    results: dict[str, Any] = {}

    def edit(who: str) -> None:
        barrier.wait()
        results[who] = api.patch(
            path, json={"title": f"Title by {who}"}, headers={"If-Match": '"1"'}
        )

    threads = [threading.Thread(target=edit, args=(w,)) for w in ("w1", "w2", "w3", "w4")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    statuses = sorted(r.status_code for r in results.values())
    assert statuses == [200, 409, 409, 409], {w: r.text for w, r in results.items()}
    winner = next(w for w, r in results.items() if r.status_code == 200)
    for response in results.values():
        if response.status_code == 409:
            assert_error(response, 409)
            assert response.json()["current_version"] == 2
    final = api.get(path).json()
    assert final["version"] == 2
    assert final["title"] == f"Title by {winner}"


def test_patch_without_a_version_is_428(api: Api, reviewed: Reviewed) -> None:
    session_id, tickets = reviewed
    path = url(session_id, f"/tickets/{tickets[0]['id']}")

    body = assert_error(api.patch(path, json={"title": "No version"}), 428, "version")

    assert body["recovery_actions"]
    assert api.get(path).json()["title"] == tickets[0]["title"]


@pytest.mark.parametrize(
    "changes",
    [
        {"status": "Done"},
        {"config_name": "node.type.other"},
        {"id": "3f2504e0-4f89-11d3-9a0c-0305e82c3301"},
        {"title": "ok", "unknown": 1},
    ],
    ids=["status", "config_name", "id", "title-and-unknown"],
)
def test_patch_of_an_unknown_field_is_422(
    api: Api, reviewed: Reviewed, changes: dict[str, Any]
) -> None:
    session_id, tickets = reviewed
    path = url(session_id, f"/tickets/{tickets[0]['id']}")

    assert_error(api.patch(path, json=changes, headers={"If-Match": '"1"'}), 422, problems=True)
    assert api.get(path).json() == tickets[0]


@pytest.mark.parametrize(
    "changes",
    [
        {"title": "x" * 256},
        {"title": ""},
        {"title": None},
        {"user_story": ""},
        {"analysis": "   "},
        {"labels": ["has space"]},
        {"labels": None},
        {"assignee": "a" * 256},
        {},
    ],
    ids=[
        "title-256",
        "title-empty",
        "title-null",
        "story-empty",
        "analysis-blank",
        "label-space",
        "labels-null",
        "assignee-256",
        "nothing",
    ],
)
def test_patch_with_an_invalid_value_is_422(
    api: Api, reviewed: Reviewed, changes: dict[str, Any]
) -> None:
    session_id, tickets = reviewed
    path = url(session_id, f"/tickets/{tickets[0]['id']}")
    head = api.container.app.head_position()

    assert_error(api.patch(path, json=changes, headers={"If-Match": '"1"'}), 422)
    assert api.container.app.head_position() == head
    assert api.get(path).json() == tickets[0]


def test_a_title_of_exactly_255_characters_is_accepted(api: Api, reviewed: Reviewed) -> None:
    session_id, tickets = reviewed
    path = url(session_id, f"/tickets/{tickets[0]['id']}")

    response = api.patch(path, json={"title": "t" * 255}, headers={"If-Match": '"1"'})

    assert response.status_code == 200, response.text
    assert response.json()["title"] == "t" * 255


def test_a_patch_that_changes_nothing_keeps_the_version(api: Api, reviewed: Reviewed) -> None:
    session_id, tickets = reviewed
    path = url(session_id, f"/tickets/{tickets[0]['id']}")

    response = api.patch(path, json={"title": tickets[0]["title"]}, headers={"If-Match": '"1"'})

    assert response.status_code == 200, response.text
    assert response.json()["version"] == 1
    assert (
        api.session(session_id)["validation"]["content_version"]
        == api.session(session_id)["content_version"]
    )


# --- dependencies ------------------------------------------------------------------


def _free_pair(tickets: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Two tickets with no dependency either way (none depends on anything here)."""
    free = [t for t in tickets if not t["depends_on"]]
    dependents = {d for t in tickets for d in t["depends_on"]}
    loners = [t for t in free if t["id"] not in dependents]
    return loners[0], loners[1]


def test_add_and_remove_a_dependency(api: Api, reviewed: Reviewed) -> None:
    session_id, tickets = reviewed
    a, b = _free_pair(tickets)

    added = api.post(
        url(session_id, f"/tickets/{a['id']}/dependencies"), json={"depends_on": b["id"]}
    )

    assert added.status_code == 201, added.text
    assert "X-Event-Position" in added.headers
    assert added.json()["depends_on"] == [b["id"]]
    order = [t["id"] for t in api.tickets(session_id)]
    assert order.index(b["id"]) < order.index(a["id"])
    assert_dependencies_first(api.tickets(session_id))

    again = api.post(
        url(session_id, f"/tickets/{a['id']}/dependencies"), json={"depends_on": b["id"]}
    )
    assert again.status_code == 201
    assert again.json()["depends_on"] == [b["id"]]

    removed = api.delete(url(session_id, f"/tickets/{a['id']}/dependencies/{b['id']}"))

    assert removed.status_code == 200, removed.text
    assert removed.json()["depends_on"] == []
    assert api.get(url(session_id, f"/tickets/{a['id']}")).json()["depends_on"] == []


def test_a_dependency_that_closes_a_cycle_is_422_naming_the_cycle(
    api: Api, reviewed: Reviewed
) -> None:
    session_id, tickets = reviewed
    by_id = {t["id"]: t for t in tickets}
    dependent = next(t for t in tickets if t["depends_on"])
    dependency = by_id[dependent["depends_on"][0]]
    head = api.container.app.head_position()

    response = api.post(
        url(session_id, f"/tickets/{dependency['id']}/dependencies"),
        json={"depends_on": dependent["id"]},
    )

    body = assert_error(response, 422, "cycle", dependent["config_name"], dependency["config_name"])
    assert body["recovery_actions"]
    assert api.container.app.head_position() == head
    assert (
        api.get(url(session_id, f"/tickets/{dependency['id']}")).json()["depends_on"]
        == (dependency["depends_on"])
    )


def test_a_longer_cycle_is_named_hop_by_hop(api: Api, reviewed: Reviewed) -> None:
    session_id, tickets = reviewed
    a, b = _free_pair(tickets)
    c = next(t for t in tickets if t["id"] not in (a["id"], b["id"]) and not t["depends_on"])
    base = url(session_id, "/tickets")
    assert (
        api.post(f"{base}/{a['id']}/dependencies", json={"depends_on": b["id"]}).status_code == 201
    )
    assert (
        api.post(f"{base}/{b['id']}/dependencies", json={"depends_on": c["id"]}).status_code == 201
    )

    response = api.post(f"{base}/{c['id']}/dependencies", json={"depends_on": a["id"]})

    names = [c["config_name"], a["config_name"], b["config_name"], c["config_name"]]
    assert_error(response, 422, " -> ".join(names))


def test_a_ticket_cannot_depend_on_itself(api: Api, reviewed: Reviewed) -> None:
    session_id, tickets = reviewed
    ticket = tickets[0]

    response = api.post(
        url(session_id, f"/tickets/{ticket['id']}/dependencies"), json={"depends_on": ticket["id"]}
    )

    assert_error(response, 422, "cycle", ticket["config_name"])


def test_removing_a_dependency_that_does_not_exist_is_404(api: Api, reviewed: Reviewed) -> None:
    session_id, tickets = reviewed
    a, b = _free_pair(tickets)

    response = api.delete(url(session_id, f"/tickets/{a['id']}/dependencies/{b['id']}"))

    assert_error(response, 404, a["id"], b["id"])


def test_a_dependency_on_an_unknown_ticket_is_404(api: Api, reviewed: Reviewed) -> None:
    session_id, tickets = reviewed
    unknown = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"

    response = api.post(
        url(session_id, f"/tickets/{tickets[0]['id']}/dependencies"), json={"depends_on": unknown}
    )

    assert_error(response, 404, unknown)


# --- order and readiness ---------------------------------------------------------------


def test_reordering_with_every_id_reversed(api: Api, reviewed: Reviewed) -> None:
    session_id, _ = reviewed
    before = api.tickets(session_id, order="user")
    reversed_ids = [t["id"] for t in reversed(before)]

    response = api.put(url(session_id, "/ticket-order"), json={"ticket_ids": reversed_ids})

    assert response.status_code == 200, response.text
    assert "X-Event-Position" in response.headers
    assert response.json()["order"] == "user"
    assert [t["id"] for t in response.json()["tickets"]] == reversed_ids
    after = api.tickets(session_id, order="user")
    assert [t["id"] for t in after] == reversed_ids
    assert [t["user_order"] for t in after] == list(range(1, 50))
    assert_dependencies_first(api.tickets(session_id))


@pytest.mark.parametrize("how", ["missing-one", "repeated", "unknown", "empty"])
def test_reordering_with_a_wrong_id_list_is_422(api: Api, reviewed: Reviewed, how: str) -> None:
    session_id, _ = reviewed
    ids = [t["id"] for t in api.tickets(session_id, order="user")]
    wrong = {
        "missing-one": ids[1:],
        "repeated": [*ids, ids[0]],
        "unknown": [*ids[1:], "3f2504e0-4f89-11d3-9a0c-0305e82c3301"],
        "empty": [],
    }[how]

    response = api.put(url(session_id, "/ticket-order"), json={"ticket_ids": wrong})

    assert_error(response, 422, "every ticket")
    assert [t["id"] for t in api.tickets(session_id, order="user")] == ids


def test_mark_ready_all_then_some_not_ready(api: Api, reviewed: Reviewed) -> None:
    session_id, tickets = reviewed

    all_ready = api.post(url(session_id, "/tickets/ready"), json={})
    one_back = api.post(
        url(session_id, "/tickets/ready"), json={"ready": False, "ticket_ids": [tickets[0]["id"]]}
    )

    assert all_ready.status_code == 200, all_ready.text
    assert all_ready.json() == {"ready": 49, "total": 49}
    assert one_back.json() == {"ready": 48, "total": 49}
    assert api.get(url(session_id, f"/tickets/{tickets[0]['id']}")).json()["ready"] is False
    session = api.session(session_id)
    assert session["counts"]["ready"] == 48
    assert "1 ticket(s) are not marked ready" in session["export_blockers"]
