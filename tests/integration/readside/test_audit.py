"""The audit log: every event of a session and of its exports, in event-store order."""

from __future__ import annotations

from typing import Any

from interfaces.bootstrap import Container
from projections import audit
from tests.integration.readside.support import BOB, failed_export, reviewed_session


def store_order(container: Container, aggregate_ids: set[str]) -> list[tuple[str, int, str]]:
    """(aggregate id, version, type) of every event of these aggregates, by notification id."""
    head = container.app.head_position()
    found = []
    for _, event in container.projector.source.read(0, head, head):
        if str(event.originator_id) in aggregate_ids:
            found.append((str(event.originator_id), event.originator_version, type(event).__name__))
    return found


def test_the_audit_log_holds_every_event_of_a_session_and_its_export_in_store_order(
    container: Container,
) -> None:
    session_id = reviewed_session(container)
    export_id = failed_export(container, session_id)
    other = reviewed_session(container, BOB)
    container.settle()

    rows = container.store.list(audit.TABLE, partition=str(session_id))
    expected = store_order(container, {str(session_id), str(export_id)})
    assert [(r["aggregate_id"], r["version"], r["type"]) for r in rows] == expected
    positions = [r["position"] for r in rows]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    assert {r["aggregate_type"] for r in rows} == {"Session", "Export"}
    assert all(r["session_id"] == str(session_id) for r in rows)
    # The other session's events are in its own partition only.
    assert not {r["aggregate_id"] for r in rows} & {str(other)}
    assert container.store.count(audit.TABLE, partition=str(other)) == len(
        store_order(container, {str(other)})
    )


def test_audit_rows_carry_actor_time_type_and_payload(container: Container) -> None:
    session_id = reviewed_session(container)
    export_id = failed_export(container, session_id)
    container.settle()
    rows = container.store.list(audit.TABLE, partition=str(session_id))
    by_type: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_type.setdefault(row["type"], []).append(row)

    created = by_type["SessionCreated"][0]
    assert created["actor"] == "alice" and created["version"] == 1
    assert created["payload"]["jira_project_key"] == "TF"
    assert "originator_id" not in created["payload"] and "actor" not in created["payload"]
    edit = by_type["TicketEdited"][0]
    assert edit["payload"]["changes"] == {"title": "Edited title", "labels": ["a", "b"]}
    assert edit["timestamp"].startswith("20")
    started = by_type["ExportStarted"][0]
    assert started["actor"] == "worker" and started["aggregate_id"] == str(export_id)
    failed = by_type["ExportFailed"][0]
    assert failed["payload"]["category"] == "temporary"
    assert by_type["ExportRetried"][0]["actor"] == "alice"


def test_secrets_never_reach_the_audit_payload() -> None:
    payload = audit.to_json(
        {
            "jira_api_token": "t0ps3cret",
            "nested": {"Password": "x", "keep": 1, "items": [{"openai_api_key": "k"}]},
            "Authorization": "Bearer abc",
            "title": "fine",
        }
    )
    assert payload == {
        "jira_api_token": audit.REDACTED,
        "nested": {
            "Password": audit.REDACTED,
            "keep": 1,
            "items": [{"openai_api_key": "[redacted]"}],
        },
        "Authorization": audit.REDACTED,
        "title": "fine",
    }
