"""Admin audit and replay: a session's ordered history, filtered and paginated, and the
session (and an export) as it was at any version."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from tests.e2e.conftest import Api, assert_error
from tests.integration.readside.support import failed_export


def events(api: Api, session_id: str, query: str = "") -> dict[str, Any]:
    response = api.get(f"/api/admin/sessions/{session_id}/events?{query}", user="root")
    assert response.status_code == 200, response.text
    assert "X-Read-Model-Lag" in response.headers
    return dict(response.json())


def test_the_history_of_a_session_is_ordered_with_actors(
    api: Api, reviewed: tuple[str, list[Any]]
) -> None:
    session_id, tickets = reviewed
    ticket = tickets[0]
    edited = api.patch(
        f"/api/sessions/{session_id}/tickets/{ticket['id']}",
        json={"title": "Reviewed by alice"},
        headers={"If-Match": str(ticket["version"])},
    )
    assert edited.status_code == 200, edited.text
    position = edited.headers["X-Event-Position"]

    history = events(api, session_id, f"limit=1000&min_position={position}")
    rows = history["events"]
    assert history["total"] == len(rows) > 49
    assert [r["position"] for r in rows] == sorted(r["position"] for r in rows)
    assert [r["version"] for r in rows] == list(range(1, len(rows) + 1))
    assert rows[0]["type"] == "SessionCreated" and rows[0]["actor"] == "alice"
    assert rows[-1]["type"] == "TicketEdited" and rows[-1]["actor"] == "alice"
    assert rows[-1]["payload"]["changes"] == {"title": "Reviewed by alice"}
    assert {"type", "actor", "timestamp", "payload", "aggregate_type"} <= set(rows[0])


def test_history_filters_and_pages(api: Api, reviewed: tuple[str, list[Any]]) -> None:
    session_id, _ = reviewed
    assert api.container.settle()  # the audit view has every event: later pages must match
    everything = events(api, session_id, "limit=1000")["events"]

    generated = events(api, session_id, "type=TicketGenerated&limit=10&offset=5")
    assert generated["total"] == 49
    assert len(generated["events"]) == 10
    all_generated = [e for e in everything if e["type"] == "TicketGenerated"]
    assert generated["events"] == all_generated[5:15]

    several = events(api, session_id, "type=SessionCreated,InventoryUploaded")
    assert [e["type"] for e in several["events"]] == ["SessionCreated", "InventoryUploaded"]

    by_alice = events(api, session_id, "actor=alice&limit=1000")
    assert by_alice["total"] == sum(1 for e in everything if e["actor"] == "alice")
    assert events(api, session_id, "actor=nobody")["total"] == 0

    middle = everything[len(everything) // 2]["timestamp"]
    since = events(api, session_id, f"since={middle.replace('+', '%2B')}&limit=1000")
    until = events(api, session_id, f"until={middle.replace('+', '%2B')}&limit=1000")
    assert since["total"] + until["total"] >= len(everything)
    assert all(e["timestamp"] >= middle for e in since["events"])
    assert all(e["timestamp"] <= middle for e in until["events"])
    assert_error(api.get(f"/api/admin/sessions/{session_id}/events?limit=0", user="root"), 422)


def test_the_session_as_it_was_at_a_version(api: Api, reviewed: tuple[str, list[Any]]) -> None:
    session_id, tickets = reviewed
    ticket = tickets[0]
    before = api.get(f"/api/admin/sessions/{session_id}/state", user="root").json()
    version_before = before["version"]
    assert before["current_version"] == version_before
    response = api.patch(
        f"/api/sessions/{session_id}/tickets/{ticket['id']}",
        json={"title": "Changed later"},
        headers={"If-Match": str(ticket["version"])},
    )
    assert response.status_code == 200, response.text

    now = api.get(f"/api/admin/sessions/{session_id}/state", user="root").json()
    assert now["version"] == version_before + 1
    assert now["changed_by"]["type"] == "TicketEdited"
    assert now["changed_by"]["actor"] == "alice"
    assert now["changed_by"]["payload"]["changes"] == {"title": "Changed later"}
    assert {t["id"]: t["title"] for t in now["tickets"]}[ticket["id"]] == "Changed later"

    then = api.get(
        f"/api/admin/sessions/{session_id}/state?version={version_before}", user="root"
    ).json()
    assert then["version"] == version_before and then["current_version"] == version_before + 1
    assert {t["id"]: t["title"] for t in then["tickets"]}[ticket["id"]] == ticket["title"]

    first = api.get(f"/api/admin/sessions/{session_id}/state?version=1", user="root").json()
    assert first["tickets"] == [] and first["state"]["stage"] == "setup"
    assert first["state"]["name"] == "NestWatch rebuild"
    assert first["changed_by"]["type"] == "SessionCreated"

    too_far = api.get(
        f"/api/admin/sessions/{session_id}/state?version={version_before + 5}", user="root"
    )
    assert_error(too_far, 422, "versions 1 to")


def test_an_exports_history_and_state(api: Api, reviewed: tuple[str, list[Any]]) -> None:
    session_id, _ = reviewed
    container = api.container
    export_id = failed_export(container, UUID(session_id))
    head = container.app.head_position()

    response = api.get(f"/api/admin/exports/{export_id}/events?min_position={head}", user="root")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["session_id"] == session_id
    assert [e["type"] for e in body["events"]][:2] == ["ExportRequested", "ExportStarted"]
    assert {e["aggregate_id"] for e in body["events"]} == {str(export_id)}
    # The session's own history includes its export's events.
    in_session = events(api, session_id, f"type=ExportFailed&min_position={head}")
    assert in_session["total"] == 1

    # (The embedded worker may pick the retried export up meanwhile: pin the versions.)
    retried_version = next(e["version"] for e in body["events"] if e["type"] == "ExportRetried")
    state = api.get(
        f"/api/admin/exports/{export_id}/state?version={retried_version}", user="root"
    ).json()
    assert state["aggregate_type"] == "Export"
    assert state["state"]["status"] == "requested"  # failed, then retried
    assert len(state["state"]["issues"]) == 3
    assert state["changed_by"]["actor"] == "alice"
    failed_version = next(e["version"] for e in body["events"] if e["type"] == "ExportFailed")
    at_failure = api.get(
        f"/api/admin/exports/{export_id}/state?version={failed_version}", user="root"
    ).json()
    assert at_failure["state"]["status"] == "failed"
    assert at_failure["state"]["failure"]["message"] == "Jira went away"
