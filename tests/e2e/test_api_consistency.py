"""Read-your-writes: a command's answer and the next query already show its change."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from application.users import User
from tests.e2e.conftest import SMALL_SITE_CSV, Api, assert_error, csv_files

Reviewed = tuple[str, list[Any]]


def position(response: Any) -> int:
    assert "X-Event-Position" in response.headers, (response.status_code, response.text[:200])
    return int(response.headers["X-Event-Position"])


def test_every_command_reports_its_position_and_is_visible_at_once(api: Api) -> None:
    """No sleeps anywhere: each answer, and the query right after it, show the change."""
    head = api.container.app.head_position
    created = api.post(
        "/api/sessions",
        json={"name": "RYW", "site_context": {"site_name": "S"}, "jira_project_key": "RY"},
    )
    session_id = created.json()["id"]
    assert position(created) == head()
    assert api.get("/api/sessions").json()["total"] == 1

    uploaded = api.post(f"/api/sessions/{session_id}/files", files=csv_files(SMALL_SITE_CSV))
    assert position(uploaded) == head()
    assert api.session(session_id)["counts"]["entities"] == 49
    assert api.get(f"/api/sessions/{session_id}/entities").json()["total"] == 49

    processing = api.post(f"/api/sessions/{session_id}/process")
    assert position(processing) > position(uploaded)
    assert api.session(session_id)["stage"] in ("processing", "review")
    api.wait_processed(session_id)
    tickets = api.tickets(session_id)
    a, b = tickets[0], tickets[1]
    base = f"/api/sessions/{session_id}/tickets"

    edited = api.patch(
        f"{base}/{a['id']}", json={"title": "Seen at once"}, headers={"If-Match": '"1"'}
    )
    assert edited.json()["title"] == "Seen at once"
    assert position(edited) == head()
    assert api.get(f"{base}/{a['id']}").json()["title"] == "Seen at once"
    assert next(t for t in api.tickets(session_id) if t["id"] == a["id"])["version"] == 2

    ids = [t["id"] for t in api.tickets(session_id, order="user")][::-1]
    reordered = api.put(f"/api/sessions/{session_id}/ticket-order", json={"ticket_ids": ids})
    assert position(reordered) == head()
    assert [t["id"] for t in api.tickets(session_id, order="user")] == ids

    if b["id"] not in a["depends_on"] and a["id"] not in b["depends_on"]:
        added = api.post(f"{base}/{a['id']}/dependencies", json={"depends_on": b["id"]})
        assert position(added) == head()
        assert b["id"] in api.get(f"{base}/{a['id']}").json()["depends_on"]
        removed = api.delete(f"{base}/{a['id']}/dependencies/{b['id']}")
        assert position(removed) == head()
        assert b["id"] not in api.get(f"{base}/{a['id']}").json()["depends_on"]

    ready = api.post(f"/api/sessions/{session_id}/tickets/ready", json={})
    assert position(ready) == head()
    assert api.session(session_id)["counts"]["ready"] == 49

    validated = api.post(f"/api/sessions/{session_id}/adf-validation", json={})
    assert position(validated) == head()
    assert api.session(session_id)["export_ready"] is True


def test_queries_report_the_read_model_lag(api: Api, reviewed: Reviewed) -> None:
    session_id, tickets = reviewed
    for path in (
        "/api/sessions",
        f"/api/sessions/{session_id}",
        f"/api/sessions/{session_id}/tickets",
        f"/api/sessions/{session_id}/tickets/{tickets[0]['id']}",
        f"/api/sessions/{session_id}/entities",
        f"/api/sessions/{session_id}/process/status",
    ):
        response = api.get(path)
        assert response.status_code == 200, (path, response.text)
        assert response.headers["X-Read-Model-Lag"] == "0", path


def test_min_position_waits_for_a_write_made_elsewhere(api: Api, reviewed: Reviewed) -> None:
    """A write made by another process (here: straight through the application, which
    tells no projector) becomes visible to a query that asks for its position."""
    session_id, tickets = reviewed
    ticket = tickets[0]
    result = api.container.app.edit_ticket(
        UUID(session_id), UUID(ticket["id"]), {"title": "Written elsewhere"}, 1, User("alice")
    )
    assert result.position is not None

    response = api.get(
        f"/api/sessions/{session_id}/tickets/{ticket['id']}?min_position={result.position}"
    )

    assert response.status_code == 200, response.text
    assert response.json()["title"] == "Written elsewhere"
    assert response.json()["version"] == 2
    assert response.headers["ETag"] == '"2"'
    for name in ("sessions", "tickets"):  # what the route reads (the others: not waited for)
        assert api.container.store.position(name) >= result.position


def test_a_query_waits_for_and_reports_only_the_read_models_it_reads(
    api: Api, reviewed: Reviewed
) -> None:
    """With every other projection behind, a query that asks for the head position gets
    it, waits for its own read models only, and reports their lag (0), not the largest
    lag of all (which the old header showed, and which would not fall to 0 here)."""
    session_id, tickets = reviewed
    container = api.container
    container.projector.stop()  # nothing follows the store now but the queries themselves
    result = container.app.edit_ticket(
        UUID(session_id), UUID(tickets[0]["id"]), {"title": "Behind"}, None, User("alice")
    )
    head = result.position
    assert head is not None
    assert set(container.projector.lag().values()) == {1}  # every projection: one behind

    routes: list[tuple[str, set[str]]] = [
        ("/api/sessions", {"sessions"}),
        (f"/api/sessions/{session_id}", {"sessions"}),
        (f"/api/sessions/{session_id}/process/status", {"sessions"}),
        (f"/api/sessions/{session_id}/tickets", {"sessions", "tickets"}),
        (f"/api/sessions/{session_id}/tickets/{tickets[0]['id']}", {"sessions", "tickets"}),
        (f"/api/sessions/{session_id}/entities", {"sessions", "tickets"}),
    ]
    caught_up: set[str] = set()
    for path, reads in routes:
        response = api.get(f"{path}?min_position={head}")

        assert response.status_code == 200, (path, response.text)
        caught_up |= reads
        lag = container.projector.lag()
        assert {name for name, behind in lag.items() if behind == 0} == caught_up, path
        assert max(lag.values()) == 1, path  # the global lag: what must not be reported
        assert response.headers["X-Read-Model-Lag"] == "0", path
        assert response.headers["X-Read-Model-Position"] == str(head), path

    # Without `min_position` too: the models a route reads are level, the rest behind.
    response = api.get(f"/api/sessions/{session_id}/tickets")
    assert response.json()["tickets"] and response.headers["X-Read-Model-Lag"] == "0"
    assert container.projector.lag()["audit"] == 1


def test_min_position_already_reached_answers_at_once(api: Api) -> None:
    created = api.post(
        "/api/sessions",
        json={"name": "M", "site_context": {"site_name": "S"}, "jira_project_key": "MP"},
    )

    response = api.get(f"/api/sessions?min_position={position(created)}")

    assert response.status_code == 200
    assert response.json()["total"] == 1


def test_min_position_is_read_your_writes_across_api_instances(
    api_with: Callable[..., Api],
) -> None:
    writer = api_with()
    reader = api_with(like=writer)
    created = writer.post(
        "/api/sessions",
        json={"name": "Across", "site_context": {"site_name": "S"}, "jira_project_key": "AC"},
    )
    session_id = created.json()["id"]
    uploaded = writer.post(f"/api/sessions/{session_id}/files", files=csv_files(SMALL_SITE_CSV))

    response = reader.get(f"/api/sessions/{session_id}?min_position={position(uploaded)}")

    assert response.status_code == 200, response.text
    assert response.json()["counts"]["entities"] == 49
    assert response.json()["stage"] == "uploaded"


def test_a_refused_command_reports_no_position(api: Api, reviewed: Reviewed) -> None:
    session_id, tickets = reviewed
    response = api.patch(
        f"/api/sessions/{session_id}/tickets/{tickets[0]['id']}",
        json={"title": "x"},
        headers={"If-Match": '"5"'},
    )

    assert_error(response, 409)
    assert "X-Event-Position" not in response.headers
